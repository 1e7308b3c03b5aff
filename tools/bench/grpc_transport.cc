#include "tools/bench/grpc_transport.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <cstddef>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "tools/bench/echo.grpc.pb.h"

namespace bench {
namespace {

using bench::Echo;
using bench::EchoMessage;

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
  explicit GrpcEcho(size_t bytes) : bytes_(bytes) {}

  absl::Status Prepare() override {
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
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    return std::unique_ptr<MsgClient>(new GrpcClient(Echo::NewStub(channel), bytes_));
  }

 private:
  const size_t bytes_;
  SocketDir dir_;
  std::string address_;
};

}  // namespace

std::unique_ptr<Transport> NewGrpcEcho(size_t bytes) { return std::make_unique<GrpcEcho>(bytes); }

}  // namespace bench
