#include "meshd/client/client_server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <deque>

#include "common/log.h"

namespace meshd {

using libsyslink::ctl::Message;

// One connection. Closing is always asynchronous (uv_close), so the Broker
// is never re-entered from inside its own call to Send().
class ClientServer::Conn : public Client {
 public:
  Conn(ClientServer* server, int fd, uint64_t id, struct ucred cred, bool allowed)
      : server_(server), fd_(fd), id_(id), cred_(cred), allowed_(allowed) {
    poll_.data = this;
  }
  ~Conn() override {
    for (auto& o : outq_) {
      if (o.fd >= 0) close(o.fd);
    }
    close(fd_);
  }

  int Start() {
    int r = uv_poll_init(server_->loop_, &poll_, fd_);
    if (r != 0) return r;
    return uv_poll_start(&poll_, UV_READABLE | UV_DISCONNECT, OnEvent);
  }

  void Send(const Message& m, int pass_fd) override {
    if (closing_) return;
    Out o;
    o.len = libsyslink::ctl::Encode(m, o.buf);
    if (outq_.empty() && TrySend(o.buf, o.len, pass_fd)) return;
    if (closing_) return;
    // Queue it (with our own copy of the descriptor) until writable.
    if (queued_ + o.len > server_->options_.max_queued_bytes_per_client) {
      server_->counters_.overflowed++;
      common::Log(common::LogLevel::kWarn, "client", "queue overflow: disconnecting")
          .Kv("pid", cred_.pid);
      Close();
      return;
    }
    o.fd = pass_fd >= 0 ? fcntl(pass_fd, F_DUPFD_CLOEXEC, 0) : -1;
    queued_ += o.len;
    outq_.push_back(std::move(o));
    uv_poll_start(&poll_, UV_READABLE | UV_WRITABLE | UV_DISCONNECT, OnEvent);
  }

  void CloseAfterFlush() override {
    flush_then_close_ = true;
    if (outq_.empty()) Close();
  }

  uint64_t id() const override { return id_; }
  pid_t pid() const override { return cred_.pid; }
  uid_t uid() const override { return cred_.uid; }

  void Close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      c->server_->Forget(c);  // tells the Broker, then deletes c
    });
  }

 private:
  struct Out {
    alignas(8) unsigned char buf[SL_MAXSIZE];
    size_t len = 0;
    int fd = -1;
  };

  // Returns true if sent; false if it would block. Errors close.
  bool TrySend(const void* buf, size_t len, int pass_fd) {
    struct iovec v = {const_cast<void*>(buf), len};
    struct msghdr mh = {};
    mh.msg_iov = &v;
    mh.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    if (pass_fd >= 0) {
      mh.msg_control = cbuf;
      mh.msg_controllen = sizeof cbuf;
      struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    for (;;) {
      if (sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return true;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return false;
      Close();  // the process is gone
      return true;
    }
  }

  static void OnEvent(uv_poll_t* h, int status, int events) {
    auto* c = static_cast<Conn*>(h->data);
    if (c->closing_) return;
    if (status < 0) {
      c->Close();
      return;
    }
    if (events & UV_WRITABLE) c->Flush();
    if (!c->closing_ && (events & (UV_READABLE | UV_DISCONNECT))) c->ReadAll();
  }

  void Flush() {
    while (!outq_.empty() && !closing_) {
      Out& o = outq_.front();
      if (!TrySend(o.buf, o.len, o.fd)) return;
      queued_ -= o.len;
      if (o.fd >= 0) close(o.fd);
      outq_.pop_front();
    }
    if (closing_) return;
    if (flush_then_close_) {
      Close();
      return;
    }
    uv_poll_start(&poll_, UV_READABLE | UV_DISCONNECT, OnEvent);
  }

  void ReadAll() {
    // Bounded per wake-up, so one busy client cannot starve the loop.
    for (int i = 0; i < 64 && !closing_; i++) {
      Message m;
      common::UniqueFd fd;
      const int err = libsyslink::ctl::Receive(fd_, MSG_DONTWAIT, &m, &fd);
      if (err == EAGAIN) return;
      if (err == EPIPE) {
        Close();
        return;
      }
      if (err != 0) {
        server_->counters_.malformed++;
        common::Log(common::LogLevel::kWarn, "client", "malformed request: disconnecting")
            .Kv("pid", cred_.pid)
            .Kv("uid", cred_.uid)
            .Kv("error", strerror(err));
        Close();
        return;
      }
      if (!allowed_) {
        if (!m.reply) Send(libsyslink::ctl::ReplyTo(m, EACCES), -1);
        CloseAfterFlush();
        return;
      }
      server_->broker_->OnRequest(this, m, std::move(fd));
    }
  }

  ClientServer* const server_;
  const int fd_;
  const uint64_t id_;
  const struct ucred cred_;
  const bool allowed_;
  uv_poll_t poll_;
  std::deque<Out> outq_;
  size_t queued_ = 0;
  bool closing_ = false;
  bool flush_then_close_ = false;
};

ClientServer::ClientServer(uv_loop_t* loop, Options options, Broker* broker)
    : loop_(loop), options_(std::move(options)), broker_(broker) {}

void ClientServer::SetAdmission(const Options& o) {
  options_.allowed_uids = o.allowed_uids;
  options_.allowed_gids = o.allowed_gids;
  options_.max_clients = o.max_clients;
  options_.max_queued_bytes_per_client = o.max_queued_bytes_per_client;
}

ClientServer::~ClientServer() {
  if (listen_fd_ >= 0) close(listen_fd_);
}

absl::Status ClientServer::Start() {
  const std::string& path = options_.socket_path;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError("client socket path must be 1-107 bytes: " + path);
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A live meshd on the path? Then refuse; a dead one's file is replaced.
  {
    common::UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (connect(probe.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0) {
      return absl::FailedPreconditionError("another meshd is serving " + path);
    }
  }
  unlink(path.c_str());
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError("mkdir " + dir + ": " + strerror(errno));
    }
  }
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(std::string("socket: ") + strerror(errno));
  // The mode is set at bind time (no window with a wider mode).
  const mode_t old = umask(static_cast<mode_t>(~options_.socket_mode & 0777));
  const int b = bind(listen_fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old);
  if (b != 0) return absl::InternalError("bind " + path + ": " + strerror(bind_errno));
  chmod(path.c_str(), options_.socket_mode);
  if (listen(listen_fd_, 512) != 0) {
    return absl::InternalError(std::string("listen: ") + strerror(errno));
  }
  uv_poll_init(loop_, &listen_poll_, listen_fd_);
  listen_poll_.data = this;
  uv_poll_start(&listen_poll_, UV_READABLE, OnListenEvent);
  listening_ = true;
  common::Log(common::LogLevel::kInfo, "client", "listening").Kv("socket", path);
  return absl::OkStatus();
}

void ClientServer::Stop() {
  if (listening_) {
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&listen_poll_), nullptr);
    unlink(options_.socket_path.c_str());
  }
  std::vector<Conn*> all;
  for (auto& [c, owned] : conns_) all.push_back(c);
  for (Conn* c : all) c->Close();
}

void ClientServer::OnListenEvent(uv_poll_t* h, int status, int events) {
  auto* self = static_cast<ClientServer*>(h->data);
  if (status == 0 && (events & UV_READABLE)) self->Accept();
}

bool ClientServer::Allowed(int fd, const struct ucred& cred) const {
  if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == getegid()) return true;
  for (uid_t u : options_.allowed_uids) {
    if (u == cred.uid) return true;
  }
  std::vector<gid_t> groups(64);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
    if (errno != ERANGE) len = 0;
    groups.resize(len / sizeof(gid_t) + 1);
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) len = 0;
  }
  groups.resize(len / sizeof(gid_t));
  groups.push_back(cred.gid);
  for (gid_t g : groups) {
    if (g == getegid()) return true;
    for (gid_t a : options_.allowed_gids) {
      if (a == g) return true;
    }
  }
  return false;
}

void ClientServer::Accept() {
  for (int i = 0; i < 64; i++) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      common::Log(common::LogLevel::kWarn, "client", "accept failed").Kv("error", strerror(errno));
      return;
    }
    struct ucred cred = {};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      close(fd);
      continue;
    }
    if (conns_.size() >= options_.max_clients) {
      // Refused without a reply: the library sees end-of-file at once.
      counters_.refused_limit++;
      common::Log(common::LogLevel::kWarn, "client", "too many clients: refused")
          .Kv("pid", cred.pid)
          .Kv("max_clients", options_.max_clients);
      close(fd);
      continue;
    }
    const bool allowed = Allowed(fd, cred);
    if (!allowed) {
      counters_.refused_credentials++;
      common::Log(common::LogLevel::kWarn, "client", "credentials refused")
          .Kv("pid", cred.pid)
          .Kv("uid", cred.uid)
          .Kv("gid", cred.gid);
    }
    auto conn = std::make_unique<Conn>(this, fd, next_id_++, cred, allowed);
    if (conn->Start() != 0) continue;  // the destructor closes fd
    counters_.accepted++;
    Conn* raw = conn.get();
    conns_.emplace(raw, std::move(conn));
  }
}

void ClientServer::Forget(Conn* c) {
  broker_->ClientGone(c);
  conns_.erase(c);
}

}  // namespace meshd
