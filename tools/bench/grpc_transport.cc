#include "tools/bench/grpc_transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "tools/bench/echo.grpc.pb.h"

namespace bench {
namespace {

using bench::Echo;
using bench::EchoMessage;

// A TCP port of 127.0.0.1 that was free a moment ago: a socket bound to
// port 0, the port the kernel gave it, the socket closed. Another process
// may take the port before the server binds it (the server then fails to
// start, and with it the case); a benchmark accepts that tiny race.
absl::StatusOr<int> PickLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", errno);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  absl::Status s;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) {
    s = ErrnoStatus("bind(127.0.0.1:0)", errno);
  } else if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
    s = ErrnoStatus("getsockname", errno);
  }
  close(fd);
  if (!s.ok()) return s;
  return ntohs(a.sin_port);
}

class EchoService final : public Echo::Service {
  grpc::Status Echo(grpc::ServerContext* context, const EchoMessage* request,
                    EchoMessage* reply) override {
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

class GrpcClient : public MsgClient {
 public:
  GrpcClient(std::unique_ptr<Echo::Stub> stub, size_t bytes) : stub_(std::move(stub)) {
    MsgBuffer m;
    BuildMessage(bytes, 0, &m);
    request_.set_payload(std::string(reinterpret_cast<const char*>(m.bytes), bytes));
  }

  absl::Status Send(uint64_t id) override {
    return absl::UnimplementedError("a blocking unary stub does not pipeline");
  }
  absl::StatusOr<uint64_t> Receive() override {
    return absl::UnimplementedError("a blocking unary stub does not pipeline");
  }

  absl::Status RoundTrip(uint64_t id) override {
    std::string& payload = *request_.mutable_payload();
    memcpy(&payload[offsetof(struct syslink_msg, sm_msgid)], &id, sizeof id);
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    const grpc::Status status = stub_->Echo(&context, request_, &reply_);
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat("Echo: ", status.error_message()));
    }
    uint64_t got;
    if (reply_.payload().size() != payload.size() ||
        !MessageId(reply_.payload().data(), reply_.payload().size(), &got) || got != id) {
      return absl::DataLossError("a bad reply");
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<Echo::Stub> stub_;
  EchoMessage request_;
  EchoMessage reply_;
};

class GrpcEcho : public Transport {
 public:
  GrpcEcho(size_t bytes, GrpcEndpoint endpoint) : bytes_(bytes), endpoint_(endpoint) {}

  absl::Status Prepare() override {
    if (endpoint_ == GrpcEndpoint::kTcp) {
      absl::StatusOr<int> port = PickLoopbackPort();
      if (!port.ok()) return port.status();
      address_ = absl::StrCat("127.0.0.1:", *port);
      return absl::OkStatus();
    }
    absl::Status s = dir_.Create();
    address_ = "unix:" + dir_.Path("grpc");
    return s;
  }

  absl::Status Serve(ServerContext& ctx) override {
    EchoService service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr) return absl::UnavailableError(absl::StrCat("cannot serve on ", address_));
    absl::Status s = ctx.Ready();
    // Serve until the client has exited.
    struct pollfd pfd = {ctx.stop_fd(), POLLIN, 0};
    while (s.ok() && poll(&pfd, 1, -1) < 0) {
      if (errno != EINTR) s = ErrnoStatus("poll", errno);
    }
    server->Shutdown();
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    // A TCP target would otherwise go through $http_proxy if one is set.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
    return std::unique_ptr<MsgClient>(new GrpcClient(Echo::NewStub(channel), bytes_));
  }

 private:
  const size_t bytes_;
  const GrpcEndpoint endpoint_;
  SocketDir dir_;  // for unix:
  std::string address_;
};

}  // namespace

std::unique_ptr<Transport> NewGrpcEcho(size_t bytes, GrpcEndpoint endpoint) {
  return std::make_unique<GrpcEcho>(bytes, endpoint);
}

}  // namespace bench
