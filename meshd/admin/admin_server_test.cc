#include "meshd/admin/admin_server.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/log_capture.h"
#include "common/stranger.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "meshd/admin/fake_backend.h"
#include "meshd/admin/grpc_log.h"
#include "meshd/admin/loop_thread.h"
#include "proto/admin.grpc.pb.h"

namespace meshd {
namespace admin {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Test data: Bazel runs tests in the runfiles tree, where the workspace is
// the current directory.
std::string TestData(const std::string& name) { return "meshd/admin/testdata/" + name; }

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/adm.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/admin.sock";
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    lt_.Stop();
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  // Starts a server on path_ with OPTIONS (socket_path filled in).
  absl::Status StartServer(AdminServer::Options o = AdminServer::Options()) {
    o.socket_path = path_;
    server_ = std::make_unique<AdminServer>(o, lt_.executor(), &fake_);
    return server_->Start();
  }

  std::unique_ptr<Admin::Stub> Stub() {
    return Admin::NewStub(grpc::CreateChannel("unix:" + path_, grpc::InsecureChannelCredentials()));
  }

  static void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }

  std::string dir_, path_;
  LoopThread lt_;
  FakeAdminBackend fake_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, SocketHasTheConfiguredModeAndIsRemovedAtStop) {
  ASSERT_TRUE(StartServer().ok());
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  server_->Stop();
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
}

TEST_F(AdminServerTest, OtherModes) {
  AdminServer::Options o;
  o.socket_mode = 0600;
  ASSERT_TRUE(StartServer(o).ok());
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(AdminServerTest, QueriesReturnTheBackendsAnswers) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  {
    grpc::ClientContext ctx;
    GetStatusResponse r;
    grpc::Status s = stub->GetStatus(&ctx, GetStatusRequest(), &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.node_name(), "node-a");
    EXPECT_EQ(r.node_id(), 0xau);
    EXPECT_EQ(r.health().peers_up(), 1u);
  }
  {
    grpc::ClientContext ctx;
    ListNodesResponse r;
    ASSERT_TRUE(stub->ListNodes(&ctx, ListNodesRequest(), &r).ok());
    ASSERT_EQ(r.nodes_size(), 3);
    EXPECT_EQ(r.nodes(0).state(), Node::SELF);
  }
  {
    grpc::ClientContext ctx;
    ListLinksResponse r;
    ASSERT_TRUE(stub->ListLinks(&ctx, ListLinksRequest(), &r).ok());
    ASSERT_EQ(r.links_size(), 1);
    EXPECT_EQ(r.links(0).rtt_us(), 250u);
    EXPECT_EQ(r.peers(0).state(), "up");
  }
  {
    grpc::ClientContext ctx;
    ListRoutesResponse r;
    ASSERT_TRUE(stub->ListRoutes(&ctx, ListRoutesRequest(), &r).ok());
    EXPECT_EQ(r.routes_size(), 2);
  }
  {
    grpc::ClientContext ctx;
    ListServicesResponse r;
    ASSERT_TRUE(stub->ListServices(&ctx, ListServicesRequest(), &r).ok());
    EXPECT_EQ(r.services_size(), 2);
  }
  {
    grpc::ClientContext ctx;
    GetSfBufStatsResponse r;
    ASSERT_TRUE(stub->GetSfBufStats(&ctx, GetSfBufStatsRequest(), &r).ok());
    EXPECT_EQ(r.peak(), 40u);
  }
  {
    grpc::ClientContext ctx;
    GetCountersResponse r;
    ASSERT_TRUE(stub->GetCounters(&ctx, GetCountersRequest(), &r).ok());
    EXPECT_EQ(r.replies_synthesized(), 6u);
    EXPECT_EQ(r.rejects().at("malformed"), 2u);
  }
}

TEST_F(AdminServerTest, ListLimitsAndFilters) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  {
    grpc::ClientContext ctx;
    ListSessionsRequest req;
    ListSessionsResponse r;
    ASSERT_TRUE(stub->ListSessions(&ctx, req, &r).ok());
    EXPECT_EQ(r.sessions_size(), 2);
    EXPECT_EQ(r.total(), 2u);
  }
  {
    grpc::ClientContext ctx;
    ListSessionsRequest req;
    req.set_service("kv");
    ListSessionsResponse r;
    ASSERT_TRUE(stub->ListSessions(&ctx, req, &r).ok());
    ASSERT_EQ(r.sessions_size(), 1);
    EXPECT_EQ(r.sessions(0).kind(), Session::CLIENT_EDGE);
  }
  {
    grpc::ClientContext ctx;
    ListSessionsRequest req;
    req.set_limit(1);
    ListSessionsResponse r;
    ASSERT_TRUE(stub->ListSessions(&ctx, req, &r).ok());
    EXPECT_EQ(r.sessions_size(), 1);
    EXPECT_EQ(r.total(), 2u);
  }
  {
    grpc::ClientContext ctx;
    ListRegionsRequest req;
    req.set_limit(4000000);  // capped
    ListRegionsResponse r;
    ASSERT_TRUE(stub->ListRegions(&ctx, req, &r).ok());
    EXPECT_EQ(r.regions_size(), 2);
    EXPECT_EQ(r.total_bytes(), 3u << 20);
  }
  const std::vector<std::string> calls = fake_.calls();
  EXPECT_EQ(calls[0], "ListSessions  10000");
  EXPECT_EQ(calls[1], "ListSessions kv 10000");
  EXPECT_EQ(calls[2], "ListSessions  1");
  EXPECT_EQ(calls[3], "ListRegions 10000");
}

TEST_F(AdminServerTest, BackendErrorsKeepTheirCodeButUnavailable) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  fake_.Mutate([](FakeAdminBackend::State& s) { s.query_error = absl::NotFoundError("gone"); });
  {
    grpc::ClientContext ctx;
    GetStatusResponse r;
    grpc::Status s = stub->GetStatus(&ctx, GetStatusRequest(), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(s.error_message(), "gone");
  }
  fake_.Mutate([](FakeAdminBackend::State& s) { s.query_error = absl::UnavailableError("mesh off"); });
  {
    grpc::ClientContext ctx;
    ListNodesResponse r;
    grpc::Status s = stub->ListNodes(&ctx, ListNodesRequest(), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
}

TEST_F(AdminServerTest, PingStreamsOneReplyPerProbe) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  fake_.Mutate([](FakeAdminBackend::State& s) {
    s.ping["node-b"] = {absl::Microseconds(250), absl::DeadlineExceededError("no answer"),
                        absl::Microseconds(300)};
  });
  grpc::ClientContext ctx;
  PingRequest req;
  req.set_node("node-b");
  req.set_count(4);
  req.set_interval_ms(1);
  req.set_timeout_ms(700);
  auto reader = stub->Ping(&ctx, req);
  std::vector<PingReply> replies;
  PingReply r;
  while (reader->Read(&r)) replies.push_back(r);
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].seq(), 1u);
  EXPECT_EQ(replies[0].result(), PROBE_OK);
  EXPECT_EQ(replies[0].rtt_us(), 250u);
  EXPECT_EQ(replies[1].result(), PROBE_TIMEOUT);
  EXPECT_EQ(replies[1].error(), "no answer");
  EXPECT_EQ(replies[2].result(), PROBE_OK);
  EXPECT_EQ(replies[3].rtt_us(), 300u);  // the last result repeats
  EXPECT_EQ(replies[3].seq(), 4u);
  EXPECT_EQ(fake_.calls()[0], "Ping node-b 700ms");
}

TEST_F(AdminServerTest, PingAnUnreachableNodeIsAResultNotAnError) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  grpc::ClientContext ctx;
  PingRequest req;
  req.set_node("node-x");
  auto reader = stub->Ping(&ctx, req);
  PingReply r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.result(), PROBE_UNREACHABLE);
  EXPECT_EQ(r.error(), "no route to node-x");
  EXPECT_FALSE(reader->Read(&r));  // count 0 means 1
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(AdminServerTest, PingAndTraceCheckTheirArguments) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  auto ping_status = [&](PingRequest req) {
    grpc::ClientContext ctx;
    auto reader = stub->Ping(&ctx, req);
    PingReply r;
    while (reader->Read(&r)) {
    }
    return reader->Finish().error_code();
  };
  PingRequest req;
  EXPECT_EQ(ping_status(req), grpc::StatusCode::INVALID_ARGUMENT);  // no node
  req.set_node("bad name");
  EXPECT_EQ(ping_status(req), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_node("node-b");
  req.set_count(10001);
  EXPECT_EQ(ping_status(req), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_count(1);
  req.set_timeout_ms(60001);
  EXPECT_EQ(ping_status(req), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_timeout_ms(0);
  req.set_interval_ms(60001);
  EXPECT_EQ(ping_status(req), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext ctx;
  TraceRequest treq;
  treq.set_node(std::string(64, 'a'));
  TraceResponse tr;
  EXPECT_EQ(stub->Trace(&ctx, treq, &tr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(fake_.calls().empty());
}

TEST_F(AdminServerTest, PingThatNeverEndsHitsTheDeadline) {
  AdminServer::Options o;
  o.max_call_wait = absl::Milliseconds(100);
  ASSERT_TRUE(StartServer(o).ok());
  fake_.Mutate([](FakeAdminBackend::State& s) { s.ping["node-h"] = {}; });  // never answers
  auto stub = Stub();
  grpc::ClientContext ctx;
  PingRequest req;
  req.set_node("node-h");
  req.set_timeout_ms(20);
  auto reader = stub->Ping(&ctx, req);
  PingReply r;
  EXPECT_FALSE(reader->Read(&r));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(fake_.kept_callbacks(), 1u);
}

TEST_F(AdminServerTest, Trace) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  {
    grpc::ClientContext ctx;
    TraceRequest req;
    req.set_node("node-c");
    TraceResponse r;
    ASSERT_TRUE(stub->Trace(&ctx, req, &r).ok());
    EXPECT_EQ(r.result(), PROBE_OK);
    ASSERT_EQ(r.hops_size(), 2);
    EXPECT_EQ(r.hops(0).name(), "node-b");
    EXPECT_EQ(r.hops(1).rtt_us(), 1500u);
  }
  {
    grpc::ClientContext ctx;
    TraceRequest req;
    req.set_node("node-x");
    TraceResponse r;
    ASSERT_TRUE(stub->Trace(&ctx, req, &r).ok());
    EXPECT_EQ(r.result(), PROBE_UNREACHABLE);
    EXPECT_EQ(r.hops_size(), 0);
    EXPECT_EQ(r.error(), "no route to node-x");
  }
}

TEST_F(AdminServerTest, Drain) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  for (bool was : {false, true}) {
    grpc::ClientContext ctx;
    DrainResponse r;
    ASSERT_TRUE(stub->Drain(&ctx, DrainRequest(), &r).ok());
    EXPECT_EQ(r.was_draining(), was);
  }
  grpc::ClientContext ctx;
  GetStatusResponse st;
  ASSERT_TRUE(stub->GetStatus(&ctx, GetStatusRequest(), &st).ok());
  EXPECT_TRUE(st.draining());
}

TEST_F(AdminServerTest, ABusyLoopGivesDeadlineExceeded) {
  ASSERT_TRUE(StartServer().ok());
  absl::Notification started, release;
  std::thread busy([&] {
    (void)lt_.executor()->Call<bool>(absl::InfiniteFuture(), [&]() -> absl::StatusOr<bool> {
      started.Notify();
      release.WaitForNotification();
      return true;
    });
  });
  started.WaitForNotification();
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Milliseconds(200));
  GetStatusResponse r;
  EXPECT_EQ(stub->GetStatus(&ctx, GetStatusRequest(), &r).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  release.Notify();
  busy.join();
}

TEST_F(AdminServerTest, StopEndsAPingInProgressPromptly) {
  ASSERT_TRUE(StartServer().ok());
  auto stub = Stub();
  grpc::ClientContext ctx;
  PingRequest req;
  req.set_node("node-b");
  req.set_count(100);
  req.set_interval_ms(60000);
  auto reader = stub->Ping(&ctx, req);
  PingReply r;
  ASSERT_TRUE(reader->Read(&r));  // the first reply; the server now waits a minute
  const absl::Time t0 = absl::Now();
  lt_.Stop();        // meshd stops: the executor shuts down
  server_->Stop();
  EXPECT_FALSE(reader->Read(&r));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST_F(AdminServerTest, CallsAfterTheExecutorShutDownAreUnavailable) {
  ASSERT_TRUE(StartServer().ok());
  lt_.Stop();
  auto stub = Stub();
  grpc::ClientContext ctx;
  GetStatusResponse r;
  EXPECT_EQ(stub->GetStatus(&ctx, GetStatusRequest(), &r).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AdminServerTest, RefusesALiveSocketReplacesAStaleOneLeavesOtherFiles) {
  ASSERT_TRUE(StartServer().ok());
  {
    AdminServer::Options o;
    o.socket_path = path_;
    AdminServer second(o, lt_.executor(), &fake_);
    absl::Status s = second.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  }
  server_->Stop();
  server_.reset();

  // A stale socket: bound, nobody listening.
  {
    common::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  }
  LoopThread lt2;
  {
    AdminServer::Options o;
    o.socket_path = path_;
    AdminServer again(o, lt2.executor(), &fake_);
    absl::Status s = again.Start();
    EXPECT_TRUE(s.ok()) << s;
    lt2.Stop();
  }

  // A regular file.
  { std::ofstream(path_) << "x"; }
  LoopThread lt3;
  AdminServer::Options o;
  o.socket_path = path_;
  AdminServer third(o, lt3.executor(), &fake_);
  EXPECT_EQ(third.Start().code(), absl::StatusCode::kFailedPrecondition);
  lt3.Stop();
}

TEST_F(AdminServerTest, InvalidOptions) {
  auto start = [&](AdminServer::Options o) {
    AdminServer s(o, lt_.executor(), &fake_);
    return s.Start().code();
  };
  AdminServer::Options o;
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);  // no path
  o.socket_path = "relative.sock";
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);
  o.socket_path = "/" + std::string(107, 'x');
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);
  o.socket_path = path_;
  o.socket_mode = 01777;
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);
  o.socket_mode = 0660;
  o.tcp_address = "127.0.0.1:0";
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);  // no cert
  o.tcp_address = "";
  o.tls_ca_file = TestData("ca.pem");
  EXPECT_EQ(start(o), absl::StatusCode::kInvalidArgument);  // TLS without TCP
  o.tcp_address = "127.0.0.1:0";
  o.tls_cert_file = TestData("missing.pem");
  o.tls_key_file = TestData("server.key");
  EXPECT_EQ(start(o), absl::StatusCode::kNotFound);
}

class AdminServerTlsTest : public AdminServerTest {
 protected:
  // 127.0.0.1, not localhost: the certificate names both, and a literal
  // address keeps c-ares (which leaks under LeakSanitizer) out of the test.
  std::unique_ptr<Admin::Stub> TlsStub(bool client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(TestData("ca.pem"));
    if (client_cert) {
      ssl.pem_private_key = ReadFile(TestData("client.key"));
      ssl.pem_cert_chain = ReadFile(TestData("client.pem"));
    }
    return Admin::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->tcp_port()), grpc::SslCredentials(ssl)));
  }
  grpc::StatusCode Status(Admin::Stub* stub) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, absl::Seconds(10));
    GetStatusResponse r;
    return stub->GetStatus(&ctx, GetStatusRequest(), &r).error_code();
  }
};

TEST_F(AdminServerTlsTest, ServerCertificate) {
  AdminServer::Options o;
  o.tcp_address = "127.0.0.1:0";
  o.tls_cert_file = TestData("server.pem");
  o.tls_key_file = TestData("server.key");
  absl::Status s = StartServer(o);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_GT(server_->tcp_port(), 0);
  EXPECT_EQ(Status(TlsStub(false).get()), grpc::StatusCode::OK);
  // Plaintext is refused.
  auto plain = Admin::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->tcp_port()), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Status(plain.get()), grpc::StatusCode::UNAVAILABLE);
  // The Unix socket works alongside.
  EXPECT_EQ(Status(Stub().get()), grpc::StatusCode::OK);
}

TEST_F(AdminServerTlsTest, ClientCertificatesRequiredWithACa) {
  AdminServer::Options o;
  o.tcp_address = "127.0.0.1:0";
  o.tls_cert_file = TestData("server.pem");
  o.tls_key_file = TestData("server.key");
  o.tls_ca_file = TestData("ca.pem");
  ASSERT_TRUE(StartServer(o).ok());
  EXPECT_EQ(Status(TlsStub(true).get()), grpc::StatusCode::OK);
  EXPECT_EQ(Status(TlsStub(false).get()), grpc::StatusCode::UNAVAILABLE);
}

// Anyone who can reach the TLS port can make gRPC log a failed handshake:
// with meshd's routing those are log events in its format, rate limited.
TEST_F(AdminServerTlsTest, StrangersOnTheTlsPortAreLoggedWithinLimits) {
  RouteGrpcLogs();
  common::CapturedLog log;
  AdminServer::Options o;
  o.tcp_address = "127.0.0.1:0";
  o.tls_cert_file = TestData("server.pem");
  o.tls_key_file = TestData("server.key");
  ASSERT_TRUE(StartServer(o).ok());
  // Plaintext HTTP where TLS is expected: the handshake fails, the server closes.
  absl::StatusOr<double> took =
      common::Pester(static_cast<uint16_t>(server_->tcp_port()), "GET / HTTP/1.0\r\n\r\n", 60);
  ASSERT_TRUE(took.ok()) << took.status();
  const int lines = log.Count("comp=grpc");
  EXPECT_GE(lines, 1) << log.Text();
  EXPECT_LE(lines, common::MostLimitedLines(*took)) << *took << " s\n" << log.Text();
  // The Unix socket still serves.
  EXPECT_EQ(Status(Stub().get()), grpc::StatusCode::OK);
}

}  // namespace
}  // namespace admin
}  // namespace meshd
