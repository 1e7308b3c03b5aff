#include "tools/bench/raw_transport.h"

#include <arpa/inet.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "tools/bench/bulk.h"
#include "tools/bench/netns.h"

namespace bench {
namespace {

using common::UniqueFd;

// A SEQPACKET socketpair made in the orchestrator: [0] server, [1] client.
class RawPair {
 public:
  absl::Status Create() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoStatus("socketpair", errno);
    }
    fds_[0].reset(fds[0]);
    fds_[1].reset(fds[1]);
    return absl::OkStatus();
  }
  int fd(int side) const { return fds_[side].get(); }
  // Keeps one end, closing the other; returns it (still owned here).
  int Keep(int side) {
    fds_[1 - side].reset();
    return fds_[side].get();
  }
  // Hands one end over, closing the other.
  UniqueFd Take(int side) {
    fds_[1 - side].reset();
    return std::move(fds_[side]);
  }
  void CloseBoth() {
    fds_[0].reset();
    fds_[1].reset();
  }

 private:
  UniqueFd fds_[2];
};

// send()/recv() of one whole packet, retrying EINTR.
absl::Status SendPacket(int fd, const void* p, size_t n) {
  for (;;) {
    const ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r == static_cast<ssize_t>(n)) return absl::OkStatus();
    if (r >= 0) return absl::DataLossError(absl::StrCat("send wrote ", r, " of ", n));
    if (errno != EINTR) return ErrnoStatus("send", errno);
  }
}

// Returns the packet's length (0 at end-of-file); a packet longer than N is
// an error.
absl::StatusOr<size_t> RecvPacket(int fd, const struct iovec* iov, int iovcnt) {
  struct msghdr mh = {};
  mh.msg_iov = const_cast<struct iovec*>(iov);
  mh.msg_iovlen = static_cast<size_t>(iovcnt);
  for (;;) {
    const ssize_t r = recvmsg(fd, &mh, 0);
    if (r >= 0) {
      if (mh.msg_flags & MSG_TRUNC) return absl::DataLossError("packet truncated");
      return static_cast<size_t>(r);
    }
    if (errno != EINTR) return ErrnoStatus("recvmsg", errno);
  }
}

absl::StatusOr<size_t> RecvPacket(int fd, void* p, size_t n) {
  for (;;) {
    const ssize_t r = recv(fd, p, n, 0);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return ErrnoStatus("recv", errno);
  }
}

// --- echo ------------------------------------------------------------------

// The server of the packet echoes: Ready, then each packet on FD back as it
// came, until end-of-file.
absl::Status EchoPackets(int fd, ServerContext& ctx) {
  absl::Status s = ctx.Ready();
  MsgBuffer m;
  while (s.ok()) {
    absl::StatusOr<size_t> n = RecvPacket(fd, &m, sizeof m);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    s = SendPacket(fd, &m, *n);
  }
  return s;
}

class RawEchoClient : public MsgClient {
 public:
  RawEchoClient(UniqueFd fd, size_t bytes) : fd_(std::move(fd)), bytes_(bytes) {
    BuildMessage(bytes, 0, &request_);
  }
  absl::Status Send(uint64_t id) override {
    request_.msg.sm_msgid = id;
    return SendPacket(fd_.get(), &request_, bytes_);
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<size_t> n = RecvPacket(fd_.get(), &reply_, sizeof reply_);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("the server closed the socket");
    uint64_t id;
    if (*n != bytes_ || !MessageId(&reply_, *n, &id)) {
      return absl::DataLossError(absl::StrCat("a reply of ", *n, " bytes"));
    }
    return id;
  }

 private:
  UniqueFd fd_;
  const size_t bytes_;
  MsgBuffer request_;
  MsgBuffer reply_;
};

class SocketpairEcho : public Transport {
 public:
  explicit SocketpairEcho(size_t bytes) : bytes_(bytes) {}
  absl::Status Prepare() override { return pair_.Create(); }
  void CloseInParent() override { pair_.CloseBoth(); }

  absl::Status Serve(ServerContext& ctx) override {
    const int fd = pair_.Keep(0);
    return EchoPackets(fd, ctx);
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    return std::unique_ptr<MsgClient>(new RawEchoClient(pair_.Take(1), bytes_));
  }

 private:
  const size_t bytes_;
  RawPair pair_;
};

// --- bulk copy -------------------------------------------------------------

// Sets SO_SNDBUF and SO_RCVBUF of FD to at least BYTES (the kernel caps
// them at net.core.[wr]mem_max unless the ...FORCE options are allowed).
absl::Status RaiseBuffers(int fd, size_t bytes) {
  const int v = static_cast<int>(bytes);
  for (auto [force, plain] : {std::pair{SO_SNDBUFFORCE, SO_SNDBUF}, {SO_RCVBUFFORCE, SO_RCVBUF}}) {
    if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof v) != 0 &&
        setsockopt(fd, SOL_SOCKET, plain, &v, sizeof v) != 0) {
      return ErrnoStatus("setsockopt(SO_SNDBUF/SO_RCVBUF)", errno);
    }
  }
  return absl::OkStatus();
}

class RawBulkClient : public MsgClient {
 public:
  RawBulkClient(UniqueFd fd, size_t bytes, std::unique_ptr<BufferRing> slots)
      : fd_(std::move(fd)), bytes_(bytes), slots_(std::move(slots)) {
    BuildMessage(SL_MIN_MSG_SIZE, 0, &header_);
  }
  absl::Status Send(uint64_t id) override {
    unsigned char* buf = slots_->For(id);
    Stamp(buf, bytes_, id);
    header_.msg.sm_msgid = id;
    struct iovec iov[2] = {{&header_, SL_MIN_MSG_SIZE}, {buf, bytes_}};
    struct msghdr mh = {};
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    for (;;) {
      const ssize_t r = sendmsg(fd_.get(), &mh, MSG_NOSIGNAL);
      if (r == static_cast<ssize_t>(SL_MIN_MSG_SIZE + bytes_)) return absl::OkStatus();
      if (r >= 0) return absl::DataLossError("sendmsg wrote part of a packet");
      if (errno != EINTR) return ErrnoStatus("sendmsg", errno);
    }
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<size_t> n = RecvPacket(fd_.get(), &reply_, sizeof reply_);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("the server closed the socket");
    uint64_t id;
    if (*n != SL_MIN_MSG_SIZE || !MessageId(&reply_, *n, &id)) {
      return absl::DataLossError(absl::StrCat("a reply of ", *n, " bytes"));
    }
    return id;
  }

 private:
  UniqueFd fd_;
  const size_t bytes_;
  std::unique_ptr<BufferRing> slots_;
  MsgBuffer header_;
  MsgBuffer reply_;
};

class SocketpairBulk : public Transport {
 public:
  SocketpairBulk(size_t bytes, int window) : bytes_(bytes), window_(window) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || window_ < 1) return absl::InvalidArgumentError("bad size");
    absl::Status s = pair_.Create();
    // Room for the window's packets plus the kernel's per-packet overhead.
    const size_t want = static_cast<size_t>(window_) * (bytes_ + 4096) + 65536;
    for (int side = 0; s.ok() && side < 2; side++) s = RaiseBuffers(pair_.fd(side), want);
    return s;
  }
  void CloseInParent() override { pair_.CloseBoth(); }

  absl::Status Serve(ServerContext& ctx) override {
    const int fd = pair_.Keep(0);
    AlignedBuffer data(bytes_);
    if (!data.ok()) return absl::ResourceExhaustedError("no memory for the buffer");
    absl::Status s = ctx.Ready();
    MsgBuffer m;
    bool first = true;
    while (s.ok()) {
      struct iovec iov[2] = {{&m, SL_MIN_MSG_SIZE}, {data.data(), bytes_}};
      absl::StatusOr<size_t> n = RecvPacket(fd, iov, 2);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      if (*n != SL_MIN_MSG_SIZE + bytes_) {
        return absl::DataLossError(absl::StrCat("a request of ", *n, " bytes"));
      }
      s = CheckBulk(data.data(), bytes_, m.msg.sm_msgid, first);
      first = false;
      if (!s.ok()) return s;
      sl_msg_init_reply(&m.msg, &m.msg, 0);
      sl_msg_fini(&m.msg);
      s = SendPacket(fd, &m, SL_MIN_MSG_SIZE);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    auto slots = std::make_unique<BufferRing>(DmaBufferKind::kPlain, bytes_, window_);
    if (!slots->ok()) return absl::ResourceExhaustedError("no memory for the buffers");
    return std::unique_ptr<MsgClient>(new RawBulkClient(pair_.Take(1), bytes_, std::move(slots)));
  }

 private:
  const size_t bytes_;
  const int window_;
  RawPair pair_;
};

// --- process_vm_readv ------------------------------------------------------

struct VmRequest {
  uint64_t id;
  uint64_t addr;  // in the client
  uint64_t len;
  int32_t pid;    // the client
  int32_t pad;
};
struct VmReply {
  uint64_t id;
  int32_t error;  // 0, or the errno of process_vm_readv
  int32_t pad;
};

// The errors that mean "not allowed here" rather than "broken".
bool NotPermitted(int err) { return err == EPERM || err == EACCES || err == ENOSYS; }

class VmReadvClient : public MsgClient {
 public:
  VmReadvClient(UniqueFd fd, size_t bytes, std::unique_ptr<BufferRing> slots)
      : fd_(std::move(fd)), bytes_(bytes), slots_(std::move(slots)) {}
  absl::Status Send(uint64_t id) override {
    unsigned char* buf = slots_->For(id);
    Stamp(buf, bytes_, id);
    VmRequest r = {id, reinterpret_cast<uint64_t>(buf), bytes_, getpid(), 0};
    return SendPacket(fd_.get(), &r, sizeof r);
  }
  absl::StatusOr<uint64_t> Receive() override {
    VmReply r;
    absl::StatusOr<size_t> n = RecvPacket(fd_.get(), &r, sizeof r);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("the server closed the socket");
    if (*n != sizeof r) return absl::DataLossError("a short reply");
    if (NotPermitted(r.error)) {
      return SkippedError(absl::StrCat("process_vm_readv not permitted here: ", strerror(r.error)));
    }
    if (r.error != 0) return ErrnoStatus("process_vm_readv", r.error);
    return r.id;
  }

 private:
  UniqueFd fd_;
  const size_t bytes_;
  std::unique_ptr<BufferRing> slots_;
};

class ProcessVmReadv : public Transport {
 public:
  ProcessVmReadv(size_t bytes, int window) : bytes_(bytes), window_(window) {}
  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || window_ < 1) return absl::InvalidArgumentError("bad size");
    return pair_.Create();
  }
  void CloseInParent() override { pair_.CloseBoth(); }

  absl::Status Serve(ServerContext& ctx) override {
    const int fd = pair_.Keep(0);
    AlignedBuffer data(bytes_);
    if (!data.ok()) return absl::ResourceExhaustedError("no memory for the buffer");
    absl::Status s = ctx.Ready();
    bool first = true;
    while (s.ok()) {
      VmRequest r;
      absl::StatusOr<size_t> n = RecvPacket(fd, &r, sizeof r);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      if (*n != sizeof r || r.len != bytes_) return absl::DataLossError("a bad request");
      struct iovec local = {data.data(), bytes_};
      struct iovec remote = {reinterpret_cast<void*>(r.addr), bytes_};
      VmReply reply = {r.id, 0, 0};
      const ssize_t got = process_vm_readv(r.pid, &local, 1, &remote, 1, 0);
      if (got < 0) {
        reply.error = errno;
        if (!NotPermitted(reply.error)) return ErrnoStatus("process_vm_readv", reply.error);
      } else if (static_cast<size_t>(got) != bytes_) {
        return absl::DataLossError(absl::StrCat("process_vm_readv read ", got, " bytes"));
      } else {
        s = CheckBulk(data.data(), bytes_, r.id, first);
        first = false;
        if (!s.ok()) return s;
      }
      s = SendPacket(fd, &reply, sizeof reply);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    // Under Yama ptrace_scope 1 only an allowed tracer may read us. Without
    // Yama the call fails with EINVAL, and nothing needs allowing.
    if (prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) != 0 && errno != EINVAL) {
      return ErrnoStatus("prctl(PR_SET_PTRACER)", errno);
    }
    auto slots = std::make_unique<BufferRing>(DmaBufferKind::kPlain, bytes_, window_);
    if (!slots->ok()) return absl::ResourceExhaustedError("no memory for the buffers");
    return std::unique_ptr<MsgClient>(new VmReadvClient(pair_.Take(1), bytes_, std::move(slots)));
  }

 private:
  const size_t bytes_;
  const int window_;
  RawPair pair_;
};

// --- TCP over loopback -----------------------------------------------------

// ADDRESS:PORT (dotted IPv4); "" is 127.0.0.1.
struct sockaddr_in Inet(const std::string& address, uint16_t port) {
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!address.empty()) inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  return a;
}

absl::Status SetNoDelay(int fd) {
  const int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
    return ErrnoStatus("setsockopt(TCP_NODELAY)", errno);
  }
  return absl::OkStatus();
}

// Drops the first N bytes (at most what is left) of the *IOVCNT buffers at
// *IOV, moving both past the buffers it used up.
void Consume(struct iovec** iov, int* iovcnt, size_t n) {
  while (*iovcnt > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    ++*iov;
    --*iovcnt;
  }
  if (*iovcnt > 0) {
    (*iov)->iov_base = static_cast<char*>((*iov)->iov_base) + n;
    (*iov)->iov_len -= n;
  }
}

size_t TotalBytes(const struct iovec* iov, int iovcnt) {
  size_t n = 0;
  for (int i = 0; i < iovcnt; i++) n += iov[i].iov_len;
  return n;
}

// Reads exactly the bytes of the IOVCNT buffers at IOV (which it consumes),
// looping on short reads and retrying EINTR. Returns false at an
// end-of-file before the first byte; one after it is an error. BUSY_POLL:
// never sleep in the kernel; read again at once (yielding the CPU to
// anything runnable) while nothing has come.
absl::StatusOr<bool> ReadFull(int fd, struct iovec* iov, int iovcnt, bool busy_poll = false) {
  const size_t total = TotalBytes(iov, iovcnt);
  size_t left = total;
  while (left > 0) {
    struct msghdr mh = {};
    mh.msg_iov = iov;
    mh.msg_iovlen = static_cast<size_t>(iovcnt);
    const ssize_t r = recvmsg(fd, &mh, busy_poll ? MSG_DONTWAIT : MSG_WAITALL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (busy_poll && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        sched_yield();
        continue;
      }
      return ErrnoStatus("recvmsg", errno);
    }
    if (r == 0) {
      if (left == total) return false;
      return absl::DataLossError(
          absl::StrCat("end-of-file after ", total - left, " of ", total, " bytes"));
    }
    left -= static_cast<size_t>(r);
    Consume(&iov, &iovcnt, static_cast<size_t>(r));
  }
  return true;
}

absl::StatusOr<bool> ReadFull(int fd, void* p, size_t n, bool busy_poll = false) {
  struct iovec iov = {p, n};
  return ReadFull(fd, &iov, 1, busy_poll);
}

// Writes all the bytes of the IOVCNT buffers at IOV (which it consumes),
// looping on short writes and retrying EINTR.
absl::Status WriteFull(int fd, struct iovec* iov, int iovcnt) {
  size_t left = TotalBytes(iov, iovcnt);
  while (left > 0) {
    const ssize_t r = writev(fd, iov, iovcnt);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("writev", errno);
    }
    left -= static_cast<size_t>(r);
    Consume(&iov, &iovcnt, static_cast<size_t>(r));
  }
  return absl::OkStatus();
}

absl::Status WriteFull(int fd, const void* p, size_t n) {
  struct iovec iov = {const_cast<void*>(p), n};
  return WriteFull(fd, &iov, 1);
}

// A TCP socket listening on 127.0.0.1 (or, over VETH, on the server side's
// address in its namespace) at a port the kernel picks, made in the
// orchestrator: both children inherit it, and the client knows the port.
class TcpListener {
 public:
  // Binds port 0 and listens. BUFFER_BYTES > 0 raises SO_SNDBUF and
  // SO_RCVBUF to it (before listen(), so that the window scale covers them;
  // accepted connections inherit them). VETH (if not null, and alive until
  // Connect) puts the listener in its server side and the client in the
  // other.
  absl::Status Listen(size_t buffer_bytes, const VethPair* veth = nullptr) {
    veth_ = veth;
    if (veth != nullptr) {
      server_address_ = veth->address(1);
      return veth->In(1, [&] { return ListenHere(buffer_bytes); });
    }
    return ListenHere(buffer_bytes);
  }

 private:
  absl::Status ListenHere(size_t buffer_bytes) {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_.ok()) return ErrnoStatus("socket", errno);
    if (buffer_bytes > 0) {
      absl::Status s = RaiseBuffers(fd_.get(), buffer_bytes);
      if (!s.ok()) return s;
    }
    struct sockaddr_in a = Inet(server_address_, 0);
    if (bind(fd_.get(), reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) {
      return ErrnoStatus("bind", errno);
    }
    if (listen(fd_.get(), 1) != 0) return ErrnoStatus("listen", errno);
    socklen_t len = sizeof a;
    if (getsockname(fd_.get(), reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
      return ErrnoStatus("getsockname", errno);
    }
    port_ = ntohs(a.sin_port);
    return absl::OkStatus();
  }

 public:
  // In the server: waits for the client's connection and accepts it, with
  // TCP_NODELAY, then closes the listening socket. Returns an empty UniqueFd
  // if the client process exited (STOP_FD readable) without connecting: its
  // own error tells why.
  absl::StatusOr<UniqueFd> Accept(int stop_fd) {
    struct pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    for (;;) {
      if (poll(fds, 2, -1) >= 0) break;
      if (errno != EINTR) return ErrnoStatus("poll", errno);
    }
    if (!(fds[0].revents & POLLIN)) return UniqueFd();
    UniqueFd conn;
    do {
      conn.reset(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    } while (!conn.ok() && errno == EINTR);
    if (!conn.ok()) return ErrnoStatus("accept", errno);
    fd_.reset();
    absl::Status s = SetNoDelay(conn.get());
    if (!s.ok()) return s;
    return conn;
  }

  // In the client: closes its copy of the listening socket and connects to
  // it, with TCP_NODELAY and, if BUFFER_BYTES > 0, SO_SNDBUF and SO_RCVBUF
  // raised to it.
  absl::StatusOr<UniqueFd> Connect(size_t buffer_bytes) {
    fd_.reset();
    UniqueFd conn;
    auto make = [&] {
      conn.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      return conn.ok() ? absl::OkStatus() : ErrnoStatus("socket", errno);
    };
    if (absl::Status s = veth_ != nullptr ? veth_->In(0, make) : make(); !s.ok()) return s;
    absl::Status s = SetNoDelay(conn.get());
    if (s.ok() && buffer_bytes > 0) s = RaiseBuffers(conn.get(), buffer_bytes);
    if (!s.ok()) return s;
    const struct sockaddr_in a = Inet(server_address_, port_);
    int err = 0;
    if (connect(conn.get(), reinterpret_cast<const struct sockaddr*>(&a), sizeof a) != 0) {
      err = errno;
    }
    if (err == EINTR) {
      // An interrupted connect() goes on in the background: wait for its end.
      struct pollfd pfd = {conn.get(), POLLOUT, 0};
      while (poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) return ErrnoStatus("poll", errno);
      }
      socklen_t len = sizeof err;
      if (getsockopt(conn.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        return ErrnoStatus("getsockopt(SO_ERROR)", errno);
      }
    }
    if (err != 0) {
      return ErrnoStatus(absl::StrCat("connect(", server_address_.empty() ? "127.0.0.1" : server_address_,
                                      ":", port_, ")").c_str(), err);
    }
    return conn;
  }

  // Closes this process's copy (the orchestrator's, after the fork).
  void Close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
  const VethPair* veth_ = nullptr;
  std::string server_address_;  // "" for 127.0.0.1
};

class TcpEchoClient : public MsgClient {
 public:
  TcpEchoClient(UniqueFd fd, size_t bytes, bool busy_poll)
      : fd_(std::move(fd)), bytes_(bytes), busy_poll_(busy_poll) {
    BuildMessage(bytes, 0, &request_);
  }
  absl::Status Send(uint64_t id) override {
    request_.msg.sm_msgid = id;
    return WriteFull(fd_.get(), &request_, bytes_);
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<bool> got = ReadFull(fd_.get(), &reply_, bytes_, busy_poll_);
    if (!got.ok()) return got.status();
    if (!*got) return absl::UnavailableError("the server closed the connection");
    uint64_t id;
    if (!MessageId(&reply_, bytes_, &id)) return absl::DataLossError("a short reply");
    return id;
  }

 private:
  UniqueFd fd_;
  const size_t bytes_;
  const bool busy_poll_;
  MsgBuffer request_;
  MsgBuffer reply_;
};

class TcpEcho : public Transport {
 public:
  TcpEcho(size_t bytes, bool veth, bool busy_poll)
      : bytes_(bytes), use_veth_(veth), busy_poll_(busy_poll) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinMessageBytes || bytes_ > kMaxMessageBytes || bytes_ % 8 != 0) {
      return absl::InvalidArgumentError("bad size");
    }
    if (use_veth_) {
      if (absl::Status s = veth_.Create(); !s.ok()) return s;
    }
    return listener_.Listen(0, use_veth_ ? &veth_ : nullptr);
  }
  void CloseInParent() override { listener_.Close(); }

  absl::Status Serve(ServerContext& ctx) override {
    absl::Status s = ctx.Ready();
    if (!s.ok()) return s;
    absl::StatusOr<UniqueFd> fd = listener_.Accept(ctx.stop_fd());
    if (!fd.ok()) return fd.status();
    if (!fd->ok()) return absl::OkStatus();  // the client is gone
    MsgBuffer m;
    while (s.ok()) {
      absl::StatusOr<bool> got = ReadFull(fd->get(), &m, bytes_, busy_poll_);
      if (!got.ok()) return got.status();
      if (!*got) break;
      s = WriteFull(fd->get(), &m, bytes_);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    absl::StatusOr<UniqueFd> fd = listener_.Connect(0);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<MsgClient>(new TcpEchoClient(*std::move(fd), bytes_, busy_poll_));
  }

 private:
  const size_t bytes_;
  const bool use_veth_;
  const bool busy_poll_;
  VethPair veth_;  // (before the listener, which points at it)
  TcpListener listener_;
};

// --- the relay floor ---------------------------------------------------

// Forwards whole messages of BYTES between a SEQPACKET socket and a TCP
// connection until either ends, then exits (a forwarder process's body).
// BUSY_POLL: never sleep; look again at once (yielding the CPU to anything
// runnable) when neither socket has anything.
[[noreturn]] void Forward(int unix_fd, int tcp_fd, size_t bytes, bool busy_poll) {
  MsgBuffer m;
  struct pollfd p[2] = {{unix_fd, POLLIN, 0}, {tcp_fd, POLLIN, 0}};
  for (;;) {
    const int ready = poll(p, 2, busy_poll ? 0 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    if (ready == 0) {
      sched_yield();
      continue;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      absl::StatusOr<size_t> n = RecvPacket(unix_fd, &m, sizeof m);
      if (!n.ok() || *n == 0 || !WriteFull(tcp_fd, &m, *n).ok()) _exit(0);
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      absl::StatusOr<bool> got = ReadFull(tcp_fd, &m, bytes);
      if (!got.ok() || !*got || !SendPacket(unix_fd, &m, bytes).ok()) _exit(0);
    }
  }
}

// A connected loopback TCP pair, TCP_NODELAY on both ends.
absl::Status LoopbackTcpPair(UniqueFd* a, UniqueFd* b) {
  UniqueFd l(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  a->reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l.ok() || !a->ok()) return ErrnoStatus("socket", errno);
  struct sockaddr_in addr = Inet("127.0.0.1", 0);
  socklen_t len = sizeof addr;
  if (bind(l.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(l.get(), 1) != 0 ||
      getsockname(l.get(), reinterpret_cast<struct sockaddr*>(&addr), &len) != 0 ||
      connect(a->get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoStatus("loopback TCP", errno);
  }
  b->reset(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!b->ok()) return ErrnoStatus("accept", errno);
  if (absl::Status s = SetNoDelay(a->get()); !s.ok()) return s;
  return SetNoDelay(b->get());
}

class RawRelayEcho : public Transport {
 public:
  RawRelayEcho(size_t bytes, bool busy_poll) : bytes_(bytes), busy_poll_(busy_poll) {}
  ~RawRelayEcho() override {
    for (pid_t pid : forwarders_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  absl::Status Prepare() override {
    if (bytes_ < kMinMessageBytes || bytes_ > kMaxMessageBytes || bytes_ % 8 != 0) {
      return absl::InvalidArgumentError("bad size");
    }
    if (absl::Status s = client_side_.Create(); !s.ok()) return s;
    if (absl::Status s = server_side_.Create(); !s.ok()) return s;
    // The forwarders' TCP connection, over loopback.
    UniqueFd a, b;
    if (absl::Status s = LoopbackTcpPair(&a, &b); !s.ok()) return s;
    // fwd a: the client's socket <-> TCP; fwd b: TCP <-> the server's.
    for (int side = 0; side < 2; side++) {
      const pid_t pid = fork();
      if (pid < 0) return ErrnoStatus("fork", errno);
      if (pid == 0) {
        // Only its own two sockets: an end left open here would keep the
        // other side from ever seeing end-of-file.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (side == 0) {
          b.reset();
          server_side_.CloseBoth();
          Forward(client_side_.Keep(1), a.get(), bytes_, busy_poll_);
        }
        a.reset();
        client_side_.CloseBoth();
        Forward(server_side_.Keep(0), b.get(), bytes_, busy_poll_);
      }
      forwarders_.push_back(pid);
    }
    return absl::OkStatus();
  }
  void CloseInParent() override {
    client_side_.CloseBoth();
    server_side_.CloseBoth();
  }

  absl::Status Serve(ServerContext& ctx) override {
    client_side_.CloseBoth();
    const int fd = server_side_.Keep(1);
    return EchoPackets(fd, ctx);
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    server_side_.CloseBoth();
    return std::unique_ptr<MsgClient>(new RawEchoClient(client_side_.Take(0), bytes_));
  }

 private:
  const size_t bytes_;
  const bool busy_poll_;
  RawPair client_side_, server_side_;  // [0] client / [1] fwd a; [0] fwd b / [1] server
  std::vector<pid_t> forwarders_;
};

class TcpBulkClient : public MsgClient {
 public:
  TcpBulkClient(UniqueFd fd, size_t bytes, std::unique_ptr<BufferRing> slots)
      : fd_(std::move(fd)), bytes_(bytes), slots_(std::move(slots)) {
    BuildMessage(SL_MIN_MSG_SIZE, 0, &header_);
  }
  absl::Status Send(uint64_t id) override {
    unsigned char* buf = slots_->For(id);
    Stamp(buf, bytes_, id);
    header_.msg.sm_msgid = id;
    struct iovec iov[2] = {{&header_, SL_MIN_MSG_SIZE}, {buf, bytes_}};
    return WriteFull(fd_.get(), iov, 2);
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<bool> got = ReadFull(fd_.get(), &reply_, SL_MIN_MSG_SIZE);
    if (!got.ok()) return got.status();
    if (!*got) return absl::UnavailableError("the server closed the connection");
    uint64_t id;
    if (!MessageId(&reply_, SL_MIN_MSG_SIZE, &id)) return absl::DataLossError("a short reply");
    return id;
  }

 private:
  UniqueFd fd_;
  const size_t bytes_;
  std::unique_ptr<BufferRing> slots_;
  MsgBuffer header_;
  MsgBuffer reply_;
};

class TcpBulk : public Transport {
 public:
  TcpBulk(size_t bytes, int window, bool veth) : bytes_(bytes), window_(window), use_veth_(veth) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || window_ < 1) return absl::InvalidArgumentError("bad size");
    if (use_veth_) {
      if (absl::Status s = veth_.Create(); !s.ok()) return s;
    }
    // Room for the window's requests plus the kernel's overhead.
    buffer_bytes_ = static_cast<size_t>(window_) * (bytes_ + 4096) + 65536;
    return listener_.Listen(buffer_bytes_, use_veth_ ? &veth_ : nullptr);
  }
  void CloseInParent() override { listener_.Close(); }

  absl::Status Serve(ServerContext& ctx) override {
    AlignedBuffer data(bytes_);
    if (!data.ok()) return absl::ResourceExhaustedError("no memory for the buffer");
    absl::Status s = ctx.Ready();
    if (!s.ok()) return s;
    absl::StatusOr<UniqueFd> fd = listener_.Accept(ctx.stop_fd());
    if (!fd.ok()) return fd.status();
    if (!fd->ok()) return absl::OkStatus();  // the client is gone
    MsgBuffer m;
    bool first = true;
    while (s.ok()) {
      struct iovec iov[2] = {{&m, SL_MIN_MSG_SIZE}, {data.data(), bytes_}};
      absl::StatusOr<bool> got = ReadFull(fd->get(), iov, 2);
      if (!got.ok()) return got.status();
      if (!*got) break;
      s = CheckBulk(data.data(), bytes_, m.msg.sm_msgid, first);
      first = false;
      if (!s.ok()) return s;
      sl_msg_init_reply(&m.msg, &m.msg, 0);
      sl_msg_fini(&m.msg);
      s = WriteFull(fd->get(), &m, SL_MIN_MSG_SIZE);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    auto slots = std::make_unique<BufferRing>(DmaBufferKind::kPlain, bytes_, window_);
    if (!slots->ok()) return absl::ResourceExhaustedError("no memory for the buffers");
    absl::StatusOr<UniqueFd> fd = listener_.Connect(buffer_bytes_);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<MsgClient>(new TcpBulkClient(*std::move(fd), bytes_, std::move(slots)));
  }

 private:
  const size_t bytes_;
  const int window_;
  const bool use_veth_;
  size_t buffer_bytes_ = 0;  // SO_SNDBUF/SO_RCVBUF of both ends, set by Prepare()
  VethPair veth_;
  TcpListener listener_;
};

}  // namespace

std::unique_ptr<Transport> NewSocketpairEcho(size_t bytes) {
  return std::make_unique<SocketpairEcho>(bytes);
}
std::unique_ptr<Transport> NewSocketpairBulk(size_t bytes, int window) {
  return std::make_unique<SocketpairBulk>(bytes, window);
}
std::unique_ptr<Transport> NewProcessVmReadv(size_t bytes, int window) {
  return std::make_unique<ProcessVmReadv>(bytes, window);
}
std::unique_ptr<Transport> NewTcpEcho(size_t bytes, bool veth, bool busy_poll) {
  return std::make_unique<TcpEcho>(bytes, veth, busy_poll);
}
std::unique_ptr<Transport> NewRawRelayEcho(size_t bytes, bool busy_poll) {
  return std::make_unique<RawRelayEcho>(bytes, busy_poll);
}
std::unique_ptr<Transport> NewTcpBulk(size_t bytes, int window, bool veth) {
  return std::make_unique<TcpBulk>(bytes, window, veth);
}

}  // namespace bench
