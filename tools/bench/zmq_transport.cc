#include "tools/bench/zmq_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace bench {
namespace {

absl::Status ZmqError(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", zmq_strerror(zmq_errno())));
}

// A context and one socket, closed in that order's reverse.
class ZmqSocket {
 public:
  ZmqSocket() = default;
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;
  ~ZmqSocket() {
    if (socket_ != nullptr) zmq_close(socket_);
    if (context_ != nullptr) zmq_ctx_term(context_);
  }

  absl::Status Open(int type) {
    context_ = zmq_ctx_new();
    if (context_ == nullptr) return ZmqError("zmq_ctx_new");
    socket_ = zmq_socket(context_, type);
    if (socket_ == nullptr) return ZmqError("zmq_socket");
    const int linger = 0;
    if (zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger) != 0) {
      return ZmqError("zmq_setsockopt(ZMQ_LINGER)");
    }
    return absl::OkStatus();
  }
  void* context() const { return context_; }
  void* socket() const { return socket_; }

 private:
  void* context_ = nullptr;
  void* socket_ = nullptr;
};

// zmq_send/zmq_recv of one frame, retrying EINTR. Receive returns the
// frame's full size (which may exceed N: then it was truncated).
absl::Status SendFrame(void* socket, const void* p, size_t n, int flags) {
  for (;;) {
    if (zmq_send(socket, p, n, flags) == static_cast<int>(n)) return absl::OkStatus();
    if (zmq_errno() != EINTR) return ZmqError("zmq_send");
  }
}

absl::StatusOr<size_t> RecvFrame(void* socket, void* p, size_t n) {
  for (;;) {
    const int r = zmq_recv(socket, p, n, 0);
    if (r >= 0) return static_cast<size_t>(r);
    if (zmq_errno() != EINTR) return ZmqError("zmq_recv");
  }
}

// A TCP port of 127.0.0.1 that was free a moment ago: a socket bound to
// port 0, the port the kernel gave it, the socket closed. Another process
// may take the port before the server binds it (the server's zmq_bind then
// fails, and with it the case); a benchmark accepts that tiny race.
absl::StatusOr<int> PickLoopbackPort() {
  common::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return ErrnoStatus("socket", errno);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) {
    return ErrnoStatus("bind(127.0.0.1:0)", errno);
  }
  socklen_t len = sizeof a;
  if (getsockname(fd.get(), reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  return ntohs(a.sin_port);
}

bool MoreFrames(void* socket) {
  int more = 0;
  size_t len = sizeof more;
  return zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len) == 0 && more != 0;
}

class ZmqClient : public MsgClient {
 public:
  ZmqClient(std::unique_ptr<ZmqSocket> zmq, size_t bytes) : zmq_(std::move(zmq)), bytes_(bytes) {
    BuildMessage(bytes, 0, &request_);
  }
  absl::Status Send(uint64_t id) override {
    request_.msg.sm_msgid = id;
    return SendFrame(zmq_->socket(), &request_, bytes_, 0);
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<size_t> n = RecvFrame(zmq_->socket(), &reply_, sizeof reply_);
    if (!n.ok()) return n.status();
    uint64_t id;
    if (*n != bytes_ || MoreFrames(zmq_->socket()) || !MessageId(&reply_, *n, &id)) {
      return absl::DataLossError(absl::StrCat("a reply of ", *n, " bytes"));
    }
    return id;
  }

 private:
  std::unique_ptr<ZmqSocket> zmq_;
  const size_t bytes_;
  MsgBuffer request_;
  MsgBuffer reply_;
};

class ZmqEcho : public Transport {
 public:
  ZmqEcho(size_t bytes, ZmqPattern pattern, ZmqEndpoint endpoint)
      : bytes_(bytes), pattern_(pattern), kind_(endpoint) {}

  absl::Status Prepare() override {
    if (kind_ == ZmqEndpoint::kTcp) {
      absl::StatusOr<int> port = PickLoopbackPort();
      if (!port.ok()) return port.status();
      endpoint_ = absl::StrCat("tcp://127.0.0.1:", *port);
      return absl::OkStatus();
    }
    absl::Status s = dir_.Create();
    endpoint_ = "ipc://" + dir_.Path("zmq");
    return s;
  }

  absl::Status Serve(ServerContext& ctx) override {
    const bool router = pattern_ == ZmqPattern::kDealerRouter;
    ZmqSocket zmq;
    absl::Status s = zmq.Open(router ? ZMQ_ROUTER : ZMQ_REP);
    if (!s.ok()) return s;
    if (zmq_bind(zmq.socket(), endpoint_.c_str()) != 0) return ZmqError("zmq_bind");
    s = ctx.Ready();
    if (!s.ok()) return s;
    // The client's exit (stop_fd's end-of-file) ends the loop below: a
    // blocked zmq_recv returns ETERM once the context is shut down. If the
    // loop fails first, WAKE ends the stopper instead.
    int wake[2];
    if (pipe2(wake, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
    common::UniqueFd wake_r(wake[0]), wake_w(wake[1]);
    void* context = zmq.context();
    std::thread stopper([stop = ctx.stop_fd(), woken = wake_r.get(), context] {
      struct pollfd fds[2] = {{stop, POLLIN, 0}, {woken, POLLIN, 0}};
      while (poll(fds, 2, -1) < 0 && errno == EINTR) {
      }
      if (!(fds[1].revents & (POLLIN | POLLHUP))) zmq_ctx_shutdown(context);
    });
    s = ServeLoop(zmq.socket(), router);
    wake_w.reset();
    stopper.join();
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    auto zmq = std::make_unique<ZmqSocket>();
    absl::Status s = zmq->Open(pattern_ == ZmqPattern::kDealerRouter ? ZMQ_DEALER : ZMQ_REQ);
    if (!s.ok()) return s;
    if (zmq_connect(zmq->socket(), endpoint_.c_str()) != 0) return ZmqError("zmq_connect");
    return std::unique_ptr<MsgClient>(new ZmqClient(std::move(zmq), bytes_));
  }

 private:
  // Echoes until the context is shut down (OK) or something fails.
  absl::Status ServeLoop(void* socket, bool router) {
    unsigned char identity[256];
    MsgBuffer m;
    for (;;) {
      size_t id_len = 0;
      if (router) {
        absl::StatusOr<size_t> n = RecvFrame(socket, identity, sizeof identity);
        if (!n.ok()) return zmq_errno() == ETERM ? absl::OkStatus() : n.status();
        if (*n > sizeof identity || !MoreFrames(socket)) {
          return absl::DataLossError("a bad routing frame");
        }
        id_len = *n;
      }
      absl::StatusOr<size_t> n = RecvFrame(socket, &m, sizeof m);
      if (!n.ok()) return zmq_errno() == ETERM ? absl::OkStatus() : n.status();
      if (*n > sizeof m || MoreFrames(socket)) return absl::DataLossError("a bad request");
      absl::Status s;
      if (router) s = SendFrame(socket, identity, id_len, ZMQ_SNDMORE);
      if (s.ok()) s = SendFrame(socket, &m, *n, 0);
      if (!s.ok()) return zmq_errno() == ETERM ? absl::OkStatus() : s;
    }
  }

  const size_t bytes_;
  const ZmqPattern pattern_;
  const ZmqEndpoint kind_;
  SocketDir dir_;  // for ipc://
  std::string endpoint_;
};

}  // namespace

std::unique_ptr<Transport> NewZmqEcho(size_t bytes, ZmqPattern pattern, ZmqEndpoint endpoint) {
  return std::make_unique<ZmqEcho>(bytes, pattern, endpoint);
}

}  // namespace bench
