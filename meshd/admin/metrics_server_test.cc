#include "meshd/admin/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/log_capture.h"
#include "common/stranger.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "meshd/admin/fake_backend.h"
#include "meshd/admin/loop_thread.h"
#include "meshd/admin/metrics_text.h"

namespace meshd {
namespace admin {
namespace {

struct HttpResponse {
  int code = 0;
  std::string headers;  // lowercased
  std::string body;
};

// A minimal HTTP/1.0 client for the test: one request, read to EOF.
HttpResponse Http(int port, const std::string& method, const std::string& path) {
  HttpResponse r;
  common::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) return r;
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd.get(), req.data(), req.size()) != static_cast<ssize_t>(req.size())) return r;
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  const size_t end = all.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.headers = absl::AsciiStrToLower(all.substr(0, end));
  r.body = all.substr(end + 4);
  sscanf(all.c_str(), "HTTP/1.%*d %d", &r.code);
  return r;
}

// Checks TEXT against the Prometheus text format (0.0.4) and returns the
// samples by series ("name{labels}"). Adds a failure for each problem.
std::map<std::string, double> ParseExposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")"
      R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?))");
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped, done_families;
  std::string current;
  EXPECT_TRUE(absl::EndsWith(text, "\n"));
  for (absl::string_view line_view : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string line(line_view);
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      const std::string name = m[1];
      EXPECT_TRUE(helped.insert(name).second) << "second HELP for " << name;
      EXPECT_EQ(done_families.count(name), 0u) << name << " is not contiguous";
      if (!current.empty()) done_families.insert(current);
      current = name;
      EXPECT_TRUE(absl::StartsWith(name, "meshd_")) << name;
    } else if (std::regex_match(line, m, kType)) {
      const std::string name = m[1];
      EXPECT_EQ(name, current) << "TYPE without HELP first: " << line;
      EXPECT_TRUE(types.emplace(name, m[2]).second) << "second TYPE for " << name;
      if (m[2] == "counter") {
        EXPECT_TRUE(absl::EndsWith(name, "_total")) << name;
      }
    } else if (std::regex_match(line, m, kSample)) {
      const std::string name = m[1];
      EXPECT_EQ(name, current) << "sample outside its family: " << line;
      EXPECT_EQ(types.count(name), 1u) << "sample before TYPE: " << line;
      const std::string series = name + std::string(m[2]);
      EXPECT_EQ(samples.count(series), 0u) << "duplicate series " << series;
      samples[series] = std::stod(m[3]);
    } else {
      ADD_FAILURE() << "not exposition format: \"" << line << "\"";
    }
  }
  return samples;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void Start(MetricsServer::Options o = MetricsServer::Options()) {
    if (o.address.empty()) o.address = "127.0.0.1:0";
    server_ = std::make_unique<MetricsServer>(o, lt_.executor(), &fake_);
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    lt_.Stop();
    if (server_) server_->Stop();
  }

  LoopThread lt_;
  FakeAdminBackend fake_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ScrapeIsValidAndCarriesTheBackendsValues) {
  Start();
  HttpResponse r = Http(server_->port(), "GET", "/metrics");
  ASSERT_EQ(r.code, 200) << r.headers;
  EXPECT_TRUE(absl::StrContains(r.headers, "content-type: text/plain; version=0.0.4"));
  std::map<std::string, double> m = ParseExposition(r.body);
  EXPECT_EQ(m["meshd_up"], 1);
  EXPECT_EQ(m["meshd_build_info{version=\"0.1.0\",node=\"node-a\"}"], 1);
  EXPECT_EQ(m["meshd_uptime_seconds"], 3723);
  EXPECT_EQ(m["meshd_start_time_seconds"], 1767225600);
  EXPECT_EQ(m["meshd_draining"], 0);
  EXPECT_EQ(m["meshd_clients"], 3);
  EXPECT_EQ(m["meshd_services"], 2);
  EXPECT_EQ(m["meshd_sessions{kind=\"local\"}"], 1);
  EXPECT_EQ(m["meshd_sessions{kind=\"remote\"}"], 1);
  EXPECT_EQ(m["meshd_sessions{kind=\"transit\"}"], 0);
  EXPECT_EQ(m["meshd_mesh_nodes{state=\"reachable\"}"], 3);
  EXPECT_EQ(m["meshd_mesh_nodes{state=\"unreachable\"}"], 0);
  EXPECT_EQ(m["meshd_mesh_links{state=\"established\"}"], 1);
  EXPECT_EQ(m["meshd_mesh_links{state=\"connecting\"}"], 0);
  EXPECT_EQ(m["meshd_mesh_peers_up"], 1);
  EXPECT_DOUBLE_EQ(m["meshd_mesh_link_rtt_max_seconds"], 0.00025);
  EXPECT_EQ(m["meshd_mesh_link_bytes_total{direction=\"in\"}"], 3000000);
  EXPECT_EQ(m["meshd_mesh_link_bytes_total{direction=\"out\"}"], 4000000);
  EXPECT_EQ(m["meshd_mesh_handshakes_total{result=\"ok\"}"], 3);
  EXPECT_EQ(m["meshd_mesh_handshakes_total{result=\"wrong_key\"}"], 1);
  EXPECT_EQ(m["meshd_mesh_connections_closed_total{reason=\"dead\"}"], 1);
  EXPECT_EQ(m["meshd_connects_total{result=\"ok\"}"], 15);
  EXPECT_EQ(m["meshd_connects_total{result=\"unreachable\"}"], 1);
  EXPECT_EQ(m["meshd_connect_requests_total"], 20);
  EXPECT_EQ(m["meshd_replies_synthesized_total"], 6);
  EXPECT_EQ(m["meshd_session_waits_total{reason=\"window\"}"], 12);
  EXPECT_EQ(m["meshd_session_waits_total{reason=\"congestion\"}"], 3);
  EXPECT_EQ(m["meshd_rejects_total{reason=\"malformed\"}"], 2);
  EXPECT_EQ(m["meshd_rejects_total{reason=\"credentials\"}"], 1);
  EXPECT_EQ(m["meshd_drops_total{reason=\"late_reply\"}"], 4);
  EXPECT_EQ(m["meshd_messages_total{direction=\"to_mesh\"}"], 500);
  EXPECT_EQ(m["meshd_loop_polls_total{result=\"hit\"}"], 7000);
  EXPECT_EQ(m["meshd_loop_polls_total{result=\"miss\"}"], 300);
  EXPECT_DOUBLE_EQ(m["meshd_loop_poll_idle_seconds_total"], 2.5);
  EXPECT_DOUBLE_EQ(m["meshd_loop_poll_window_seconds"], 0.00016);
  EXPECT_EQ(m["meshd_sfbuf_in_use"], 12);
  EXPECT_EQ(m["meshd_sfbuf_peak"], 40);
  EXPECT_EQ(m["meshd_sfbuf_max"], 1024);
  EXPECT_EQ(m["meshd_sfbuf_hits_total"], 900);
  EXPECT_EQ(m["meshd_sfbuf_misses_total"], 100);
  EXPECT_EQ(m["meshd_regions"], 2);
  EXPECT_EQ(m["meshd_region_bytes"], 3 << 20);
}

TEST_F(MetricsServerTest, OtherPathsAndMethods) {
  Start();
  EXPECT_EQ(Http(server_->port(), "GET", "/").code, 200);
  EXPECT_EQ(Http(server_->port(), "GET", "/nope").code, 404);
  HttpResponse post = Http(server_->port(), "POST", "/metrics");
  EXPECT_EQ(post.code, 405);
  EXPECT_TRUE(absl::StrContains(post.headers, "allow: get, head"));
  HttpResponse head = Http(server_->port(), "HEAD", "/metrics");
  EXPECT_EQ(head.code, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(MetricsServerTest, ABusyLoopGivesUpZero) {
  MetricsServer::Options o;
  o.scrape_timeout = absl::Milliseconds(100);
  Start(o);
  absl::Notification started, release;
  std::thread busy([&] {
    (void)lt_.executor()->Call<bool>(absl::InfiniteFuture(), [&]() -> absl::StatusOr<bool> {
      started.Notify();
      release.WaitForNotification();
      return true;
    });
  });
  started.WaitForNotification();
  HttpResponse r = Http(server_->port(), "GET", "/metrics");
  release.Notify();
  busy.join();
  ASSERT_EQ(r.code, 200);
  std::map<std::string, double> m = ParseExposition(r.body);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m["meshd_up"], 0);
}

TEST_F(MetricsServerTest, FailedQueriesAreLeftOut) {
  Start();
  fake_.Mutate([](FakeAdminBackend::State& s) { s.query_error = absl::InternalError("x"); });
  std::map<std::string, double> m = ParseExposition(Http(server_->port(), "GET", "/metrics").body);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m["meshd_up"], 1);
}

TEST_F(MetricsServerTest, AfterShutdownUpIsZero) {
  Start();
  lt_.Stop();
  std::map<std::string, double> m = ParseExposition(Http(server_->port(), "GET", "/metrics").body);
  EXPECT_EQ(m["meshd_up"], 0);
}

TEST_F(MetricsServerTest, OffWhenTheAddressIsEmpty) {
  MetricsServer off(MetricsServer::Options(), lt_.executor(), &fake_);
  EXPECT_TRUE(off.Start().ok());
  EXPECT_EQ(off.port(), 0);
}

TEST_F(MetricsServerTest, BadAddressesAndAPortInUse) {
  Start();
  auto start = [&](const std::string& address) {
    MetricsServer::Options o;
    o.address = address;
    MetricsServer s(o, lt_.executor(), &fake_);
    return s.Start().code();
  };
  EXPECT_EQ(start("nope"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(start("::1:9464"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(start("127.0.0.1:65536"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(start("127.0.0.1:"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(start(":9464"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(start("no-such-host.invalid:9464"), absl::StatusCode::kNotFound);
  EXPECT_EQ(start("127.0.0.1:" + std::to_string(server_->port())), absl::StatusCode::kInternal);
}

// What libmicrohttpd says of bad requests, which anyone reaching the port
// can send, is rate limited like every such line.
TEST_F(MetricsServerTest, BadRequestsAreLoggedWithinLimits) {
  common::CapturedLog log;
  Start();
  // Headers past the connection's 64 KiB memory limit.
  const std::string request =
      "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(100000, 'x') + "\r\n\r\n";
  absl::StatusOr<double> took = common::Pester(server_->port(), request, 60);
  ASSERT_TRUE(took.ok()) << took.status();
  const int lines = log.Count("comp=microhttpd");
  EXPECT_GE(lines, 1) << log.Text();
  EXPECT_LE(lines, common::MostLimitedLines(*took)) << *took << " s\n" << log.Text();
}

TEST(SplitHostPortTest, Forms) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:9464", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9464);
  ASSERT_TRUE(SplitHostPort("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(SplitHostPort("localhost:80", &host, &port).ok());
  EXPECT_EQ(host, "localhost");
  EXPECT_FALSE(SplitHostPort("[::1:80", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("host:+80", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("host:-1", &host, &port).ok());
}

TEST(RenderMetricsTest, DownShowsOnlyUp) {
  EXPECT_EQ(RenderMetrics(MetricsSnapshot()),
            "# HELP meshd_up 1 if meshd's event loop answered this scrape in time (else 0, and "
            "nothing else is shown).\n# TYPE meshd_up gauge\nmeshd_up 0\n");
}

TEST(RenderMetricsTest, ReasonLabelsAreBoundedCleanedAndEscaped) {
  MetricsSnapshot s;
  s.up = s.has_counters = s.has_status = true;
  s.status.set_version("1.0 \"quoted\"\\");
  for (int i = 0; i < 40; i++) (*s.counters.mutable_rejects())["r" + std::to_string(100 + i)] = 1;
  (*s.counters.mutable_drops())["Bad Reason!"] = 5;
  (*s.counters.mutable_drops())["other"] = 1;
  (*s.counters.mutable_mesh()->mutable_handshakes_failed())["ok"] = 2;  // clashes with result="ok"
  const std::string text = RenderMetrics(s);
  std::map<std::string, double> m = ParseExposition(text);
  int rejects = 0;
  for (const auto& [series, v] : m) {
    if (absl::StartsWith(series, "meshd_rejects_total{")) rejects++;
  }
  EXPECT_EQ(rejects, static_cast<int>(kMaxReasonLabels));
  EXPECT_EQ(m["meshd_rejects_total{reason=\"other\"}"], 40 - (kMaxReasonLabels - 1));
  EXPECT_EQ(m["meshd_drops_total{reason=\"bad_reason_\"}"], 5);
  EXPECT_EQ(m["meshd_drops_total{reason=\"other\"}"], 1);
  EXPECT_EQ(m["meshd_mesh_handshakes_total{result=\"other\"}"], 2);
  EXPECT_TRUE(absl::StrContains(text, "version=\"1.0 \\\"quoted\\\"\\\\\""));
}

}  // namespace
}  // namespace admin
}  // namespace meshd
