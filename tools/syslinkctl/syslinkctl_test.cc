// syslinkctl against a real AdminServer (FakeAdminBackend behind it) on a
// Unix socket: argument parsing, every object's JSON (parsed back and
// compared) and table, ping/trace/drain/watch, every exit code; and the
// real binary for a few of them.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "meshd/admin/admin_server.h"
#include "meshd/admin/fake_backend.h"
#include "meshd/admin/loop_thread.h"
#include "tools/syslinkctl/cli.h"
#include "tools/syslinkctl/format.h"

extern char** environ;

namespace syslinkctl {
namespace {

using meshd::admin::FakeAdminBackend;
using ::google::protobuf::util::MessageDifferencer;

// ---------------------------------------------------------------- parsing

absl::StatusOr<Invocation> P(const std::string& line, const char* env = nullptr) {
  std::vector<std::string> args = absl::StrSplit(line, ' ', absl::SkipEmpty());
  return Parse(args, env);
}

TEST(ParseTest, Defaults) {
  absl::StatusOr<Invocation> inv = P("status");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "status");
  EXPECT_EQ(inv->endpoint, "unix:/run/meshd/admin.sock");
  EXPECT_EQ(inv->timeout, absl::Seconds(5));
  EXPECT_FALSE(inv->json);
  inv = P("ping node-b");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->count, 3u);
  EXPECT_EQ(inv->interval, absl::Seconds(1));
  inv = P("watch links");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->object, "links");
  EXPECT_EQ(inv->interval, absl::Seconds(2));
  EXPECT_EQ(inv->count, 0u);
}

TEST(ParseTest, EndpointFromEnvironmentAndOption) {
  EXPECT_EQ(P("status", "unix:/tmp/x.sock")->endpoint, "unix:/tmp/x.sock");
  EXPECT_EQ(P("status", "")->endpoint, kDefaultEndpoint);
  EXPECT_EQ(P("-E unix:/a.sock status", "unix:/b.sock")->endpoint, "unix:/a.sock");
  EXPECT_EQ(P("--endpoint=/a.sock status")->endpoint, "unix:/a.sock");
  EXPECT_EQ(P("status --endpoint 10.0.0.1:7000")->endpoint, "10.0.0.1:7000");
}

TEST(ParseTest, OptionsAnywhereAndValues) {
  absl::StatusOr<Invocation> inv = P("ping -j node-b -c 5 --interval=200ms -t 2");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->json);
  EXPECT_EQ(inv->node, "node-b");
  EXPECT_EQ(inv->count, 5u);
  EXPECT_EQ(inv->interval, absl::Milliseconds(200));
  EXPECT_EQ(inv->timeout, absl::Seconds(2));
  inv = P("sessions show --service kv --limit 10");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->service, "kv");
  EXPECT_EQ(inv->limit, 10u);
  inv = P("watch -n 0.5 -c 3 sessions --service kv");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->interval, absl::Milliseconds(500));
  EXPECT_EQ(inv->count, 3u);
  EXPECT_EQ(inv->service, "kv");
  EXPECT_TRUE(P("nodes list").ok());
}

TEST(ParseTest, UsageErrors) {
  for (const char* line : {
           "",                         // nothing
           "bogus",                    // unknown object
           "nodes extra",              // stray argument
           "-x status",                // unknown option
           "--json=1 status",          // flag with a value
           "status -E",                // missing value
           "-j -j status",             // twice
           "nodes -c 3",               // option of another command
           "status --service kv",
           "ping",                     // no node
           "ping a b",
           "ping 'bad name'",
           "ping node-b -c 0",
           "ping node-b -c 10001",
           "ping node-b -c 3x",
           "ping node-b -i 0",
           "ping node-b -i 61s",
           "ping node-b -t 61s",
           "trace",
           "drain now",
           "watch",
           "watch ping",
           "-j watch nodes",
           "watch -n 10ms nodes",
           "watch -i 1s nodes",        // ping's spelling
           "ping node-b -n 1s",        // watch's spelling
           "status -t 0",
           "status -t soon",
           "status -t -5s",
           "--cacert ca.pem status",   // TLS options on a unix: endpoint
           "-E host:1 --cert c.pem status",  // cert without key
           "help bogus",
           "sessions --limit 0",
       }) {
    EXPECT_FALSE(P(line).ok()) << "accepted: " << line;
  }
}

TEST(ParseTest, Help) {
  absl::StatusOr<Invocation> inv = P("--help");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, "help");
  EXPECT_EQ(inv->help_topic, "");
  EXPECT_EQ(P("ping --help")->help_topic, "ping");
  EXPECT_EQ(P("-h links")->help_topic, "links");
  EXPECT_EQ(P("help watch")->help_topic, "watch");
  EXPECT_EQ(P("help")->help_topic, "");
  for (const char* topic : {"status", "nodes", "links", "routes", "sessions", "services", "regions",
                            "sfbuf", "stats", "ping", "trace", "drain", "watch"}) {
    EXPECT_TRUE(absl::StartsWith(HelpText(topic), "Usage: syslinkctl")) << topic;
    EXPECT_TRUE(absl::StrContains(HelpText(""), topic)) << topic;
  }
}

// ---------------------------------------------------------------- formatting

TEST(FormatTest, Units) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(1023), "1023B");
  EXPECT_EQ(FormatBytes(1536), "1.5KiB");
  EXPECT_EQ(FormatBytes(3u << 20), "3.0MiB");
  EXPECT_EQ(HumanDuration(absl::Microseconds(250)), "250us");
  EXPECT_EQ(HumanDuration(absl::Microseconds(1500)), "1.50ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(3200)), "3.2s");
  EXPECT_EQ(HumanDuration(absl::Seconds(3723)), "1h2m3s");
  EXPECT_EQ(HumanDuration(absl::Hours(49) + absl::Seconds(5)), "2d1h");
  EXPECT_EQ(HumanDuration(absl::Seconds(61)), "1m1s");
  EXPECT_EQ(FormatHex(0xab), "0xab");
  EXPECT_EQ(FormatAge(0, absl::Now()), "-");
  EXPECT_EQ(FormatAge(1000, absl::FromUnixSeconds(61)), "1m0s");
}

TEST(FormatTest, TableAlignsColumns) {
  Table t({"NAME", "#N", "NOTE"});
  t.AddRow({"a", "1", "x"});
  t.AddRow({"longer", "100", ""});
  EXPECT_EQ(t.Render(),
            "NAME      N  NOTE\n"
            "a         1  x\n"
            "longer  100\n");
}

// ---------------------------------------------------------------- against a server

struct Result {
  int code;
  std::string out, err;
};

class SyslinkctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/adm.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/admin.sock";
    meshd::admin::AdminServer::Options o;
    o.socket_path = path_;
    server_ = std::make_unique<meshd::admin::AdminServer>(o, lt_.executor(), &fake_);
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  void TearDown() override {
    lt_.Stop();
    server_->Stop();
    rmdir(dir_.c_str());
  }

  // syslinkctl -E unix:PATH ARGS..., in process. watch's waits return at
  // once (and count in waits_).
  Result Run(const std::string& line) {
    std::vector<std::string> args = {"-E", "unix:" + path_};
    for (absl::string_view a : absl::StrSplit(line, ' ', absl::SkipEmpty())) args.emplace_back(a);
    std::ostringstream out, err;
    const int code = Main(args, nullptr, out, err, [this](absl::Duration) {
      waits_++;
      return true;
    });
    return {code, out.str(), err.str()};
  }

  // Parses R.out as JSON into M; fails the test if it does not parse.
  template <typename M>
  M Json(const Result& r) {
    M m;
    auto s = google::protobuf::util::JsonStringToMessage(r.out, &m);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << r.out;
    return m;
  }

  std::string dir_, path_;
  meshd::admin::LoopThread lt_;
  FakeAdminBackend fake_;
  std::unique_ptr<meshd::admin::AdminServer> server_;
  int waits_ = 0;
};

TEST_F(SyslinkctlTest, JsonOfEveryObjectParsesBackToTheBackendsAnswer) {
  const FakeAdminBackend::State want = FakeAdminBackend::Sample();
  Result r = Run("-j status");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::GetStatusResponse>(r), want.status));
  // Stable shape: proto field names, zeros present, 64-bit values as strings.
  EXPECT_TRUE(absl::StrContains(r.out, "\"sessions_transit\": 0")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"node_id\": \"10\"")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"config_file\": \"\"")) << r.out;

  r = Run("nodes -j");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListNodesResponse>(r), want.nodes));
  EXPECT_TRUE(absl::StrContains(r.out, "\"state\": \"SELF\"")) << r.out;
  r = Run("-j links");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListLinksResponse>(r), want.links));
  r = Run("-j routes");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListRoutesResponse>(r), want.routes));
  r = Run("-j sessions");
  ASSERT_EQ(r.code, 0) << r.err;
  meshd::admin::ListSessionsResponse sessions = want.sessions;
  sessions.set_total(2);
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListSessionsResponse>(r), sessions));
  r = Run("-j services");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListServicesResponse>(r), want.services));
  r = Run("-j regions");
  ASSERT_EQ(r.code, 0) << r.err;
  meshd::admin::ListRegionsResponse regions = want.regions;
  regions.set_total(2);
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::ListRegionsResponse>(r), regions));
  r = Run("-j sfbuf");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::GetSfBufStatsResponse>(r), want.sfbuf));
  r = Run("-j stats");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(MessageDifferencer::Equals(Json<meshd::admin::GetCountersResponse>(r), want.counters));
  EXPECT_TRUE(absl::StrContains(r.out, "\"malformed\": \"2\"")) << r.out;
}

// The column of HEADER in the header line is where each row's cell starts.
void ExpectColumn(const std::string& table, const std::string& header,
                  const std::vector<std::string>& cells) {
  std::vector<std::string> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), cells.size() + 1) << table;
  const size_t col = lines[0].find(header);
  ASSERT_NE(col, std::string::npos) << header << " in " << lines[0];
  for (size_t i = 0; i < cells.size(); i++) {
    EXPECT_EQ(lines[i + 1].compare(col, cells[i].size(), cells[i]), 0)
        << "row " << i + 1 << " column " << header << ":\n" << table;
  }
}

TEST_F(SyslinkctlTest, Tables) {
  Result r = Run("nodes");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "NAME ")) << r.out;
  ExpectColumn(r.out, "NAME", {"node-a", "node-b", "node-c"});
  ExpectColumn(r.out, "STATE", {"self", "reachable", "reachable"});
  ExpectColumn(r.out, "NEXT HOP", {"-", "node-b", "node-b"});

  r = Run("links");
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectColumn(r.out, "PEER", {"node-b"});
  ExpectColumn(r.out, "STATE", {"established"});
  EXPECT_TRUE(absl::StrContains(r.out, "250us")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "PEER ADDRESS")) << r.out;

  r = Run("routes");
  ExpectColumn(r.out, "DESTINATION", {"node-b", "node-c"});
  r = Run("sessions");
  ExpectColumn(r.out, "KIND", {"local", "client-edge"});
  ExpectColumn(r.out, "SERVER", {"node-a/100", "node-c"});
  r = Run("services");
  ExpectColumn(r.out, "NAME", {"echo", "kv-proxy"});
  r = Run("regions");
  ExpectColumn(r.out, "PERM", {"r-", "rw"});
  EXPECT_TRUE(absl::StrContains(r.out, "2 regions, 3.0MiB registered")) << r.out;

  r = Run("status");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "node:            node-a (id 0xa)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "uptime:          1h2m3s")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "peers:           1 of 1 up")) << r.out;

  r = Run("sfbuf");
  EXPECT_TRUE(absl::StrContains(r.out, "in use:    12 of 1024 page mappings")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "hits:      900 (90.0%)")) << r.out;

  r = Run("stats");
  EXPECT_TRUE(absl::StrContains(r.out, "mesh.handshakes_failed.wrong_key")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "rejects.malformed")) << r.out;
}

TEST_F(SyslinkctlTest, ProblemsGiveExitCodeOne) {
  fake_.Mutate([](FakeAdminBackend::State& s) {
    auto* n = s.nodes.add_nodes();
    n->set_id(0xd);
    n->set_name("node-d");
    n->set_state(meshd::admin::Node::UNREACHABLE);
    s.status.mutable_health()->set_nodes_known(4);
  });
  Result r = Run("nodes");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "unreachable"));
  EXPECT_EQ(r.err, "syslinkctl: problem: node node-d is unreachable\n");
  r = Run("status");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "1 of 4 known nodes unreachable")) << r.err;
  r = Run("-j status");  // the same with JSON: problems on stderr
  EXPECT_EQ(r.code, 1);
  Json<meshd::admin::GetStatusResponse>(r);

  fake_.Mutate([](FakeAdminBackend::State& s) {
    s = FakeAdminBackend::Sample();
    auto* p = s.links.add_peers();
    p->set_address("10.0.0.9:7946");
    p->set_state("connecting");
    p->set_last_error("connection refused");
    s.status.mutable_health()->set_peers_configured(2);
  });
  r = Run("links");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "syslinkctl: problem: peer 10.0.0.9:7946 is connecting: connection refused\n");
  r = Run("status");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "1 of 2 configured peers down")) << r.err;
  EXPECT_EQ(Run("routes").code, 0);

  fake_.Mutate([](FakeAdminBackend::State& s) {
    s = FakeAdminBackend::Sample();
    s.status.set_draining(true);
  });
  r = Run("status");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "state:           draining")) << r.out;
  EXPECT_EQ(r.err, "syslinkctl: problem: node-a is draining\n");
}

TEST_F(SyslinkctlTest, Ping) {
  fake_.Mutate([](FakeAdminBackend::State& s) {
    s.ping["node-b"] = {absl::Microseconds(250), absl::Microseconds(350)};
  });
  Result r = Run("ping node-b -c 3 -i 1ms");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "PING node-b: 3 probes\n"
            "reply from node-b: seq=1 time=250us\n"
            "reply from node-b: seq=2 time=350us\n"
            "reply from node-b: seq=3 time=350us\n"
            "--- node-b ping statistics ---\n"
            "3 probes, 3 replies, 0% lost, rtt min/avg/max = 250us/316us/350us\n");
  EXPECT_EQ(fake_.calls().back(), "Ping node-b 5000ms");

  r = Run("-j ping node-b -c 2 -i 1ms -t 700ms");
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  for (size_t i = 0; i < lines.size(); i++) {
    meshd::admin::PingReply p;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &p).ok()) << lines[i];
    EXPECT_EQ(p.seq(), i + 1);
    EXPECT_EQ(p.result(), meshd::admin::PROBE_OK);
    EXPECT_EQ(p.rtt_us(), 350u);
  }
  EXPECT_EQ(fake_.calls().back(), "Ping node-b 700ms");

  fake_.Mutate([](FakeAdminBackend::State& s) {
    s.ping["node-b"] = {absl::Microseconds(250), absl::DeadlineExceededError("no answer in 5s"),
                        absl::Microseconds(250)};
  });
  r = Run("ping node-b -c 3 -i 1ms");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "no reply from node-b: seq=2 timeout: no answer in 5s"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "3 probes, 2 replies, 33% lost")) << r.out;

  r = Run("ping node-x -c 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "unreachable: no route to node-x")) << r.out;
}

TEST_F(SyslinkctlTest, Trace) {
  Result r = Run("trace node-c");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "trace to node-c: 2 hops\n")) << r.out;
  ExpectColumn(r.out.substr(r.out.find('\n') + 1), "NODE", {"node-b", "node-c"});
  r = Run("-j trace node-c");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(Json<meshd::admin::TraceResponse>(r).hops_size(), 2);
  r = Run("trace node-x");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "trace to node-x: unreachable: no route to node-x\n");
  EXPECT_EQ(r.err, "syslinkctl: problem: node-x not reached: unreachable: no route to node-x\n");
}

TEST_F(SyslinkctlTest, Drain) {
  Result r = Run("drain");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "draining: new sessions and services are refused; 2 sessions and 2 services remain\n");
  r = Run("-j drain");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Json<meshd::admin::DrainResponse>(r).was_draining());
  EXPECT_EQ(Run("status").code, 1);  // draining is a problem for status
}

TEST_F(SyslinkctlTest, WatchRedrawsUntilCount) {
  Result r = Run("watch -n 100ms -c 3 services");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(waits_, 2);
  std::vector<std::string> screens = absl::StrSplit(r.out, "\033[H\033[2J", absl::SkipEmpty());
  ASSERT_EQ(screens.size(), 3u) << r.out;
  for (const std::string& s : screens) {
    EXPECT_TRUE(absl::StartsWith(s, "Every 100ms: syslinkctl services")) << s;
    EXPECT_TRUE(absl::StrContains(s, "kv-proxy")) << s;
  }
}

TEST_F(SyslinkctlTest, WatchKeepsGoingWhenMeshdIsUnreachable) {
  lt_.Stop();  // every call now fails with UNAVAILABLE
  Result r = Run("watch -c 2 nodes");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(waits_, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "error: cannot reach meshd")) << r.out;
}

TEST_F(SyslinkctlTest, ErrorAnswersAndTheirExitCodes) {
  fake_.Mutate([](FakeAdminBackend::State& s) { s.query_error = absl::NotFoundError("no mesh"); });
  Result r = Run("nodes");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "syslinkctl: meshd: NOT_FOUND: no mesh\n");
  EXPECT_EQ(r.out, "");

  // A request meshd calls invalid (Parse would have refused it).
  Invocation inv;
  inv.command = "trace";
  inv.node = "bad name";
  inv.endpoint = "unix:" + path_;
  auto stub = MakeStub(inv);
  ASSERT_TRUE(stub.ok());
  std::ostringstream out, err;
  EXPECT_EQ(syslinkctl::Run(inv, stub->get(), Io{&out, &err, nullptr}), kExitUsage);
  EXPECT_TRUE(absl::StartsWith(err.str(), "syslinkctl: meshd refused the request: node:"))
      << err.str();
}

TEST_F(SyslinkctlTest, ABusyMeshdIsUnreachable) {
  absl::Notification started, release;
  std::thread busy([&] {
    (void)lt_.executor()->Call<bool>(absl::InfiniteFuture(), [&]() -> absl::StatusOr<bool> {
      started.Notify();
      release.WaitForNotification();
      return true;
    });
  });
  started.WaitForNotification();
  Result r = Run("-t 200ms status");
  release.Notify();
  busy.join();
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, "did not answer within 200ms")) << r.err;
}

TEST_F(SyslinkctlTest, MeshdStoppingIsUnreachable) {
  lt_.Stop();
  Result r = Run("status");
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, "meshd is stopping")) << r.err;
}

TEST(SyslinkctlNoServerTest, NoSocketIsUnreachable) {
  std::ostringstream out, err;
  EXPECT_EQ(Main({"-E", "unix:/tmp/adm-no-such-dir/admin.sock", "status"}, nullptr, out, err), 3);
  EXPECT_TRUE(absl::StrContains(err.str(), "(is meshd running?)")) << err.str();
  EXPECT_EQ(Main({"-E", "unix:/tmp/adm-no-such-dir/admin.sock", "ping", "b", "-c", "1"}, nullptr,
                 out, err),
            3);
}

TEST(SyslinkctlNoServerTest, UsageAndHelp) {
  std::ostringstream out, err;
  EXPECT_EQ(Main({"bogus"}, nullptr, out, err), 2);
  EXPECT_EQ(err.str(), "syslinkctl: unknown object or command \"bogus\"\nTry 'syslinkctl --help'.\n");
  EXPECT_EQ(Main({}, nullptr, out, err), 2);
  std::ostringstream help;
  EXPECT_EQ(Main({"--help"}, nullptr, help, err), 0);
  EXPECT_TRUE(absl::StartsWith(help.str(), "syslinkctl: inspect and operate")) << help.str();
  std::ostringstream tls;
  EXPECT_EQ(Main({"-E", "127.0.0.1:1", "--cacert", "/tmp/adm-no-such-file", "status"}, nullptr,
                 out, tls),
            2);
  EXPECT_TRUE(absl::StrContains(tls.str(), "cannot read /tmp/adm-no-such-file")) << tls.str();
}

// ---------------------------------------------------------------- the binary

// The real syslinkctl with ARGS, running; its stdout and stderr are pipes.
struct Child {
  pid_t pid = -1;
  int out = -1, err = -1;
};

Child StartChild(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"tools/syslinkctl/syslinkctl"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return c;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  const int rc = posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) c.pid = -1;
  c.out = out_pipe[0];
  c.err = err_pipe[0];
  return c;
}

// Reads FD to end of file into S.
void ReadAll(int fd, std::string* s) {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s->append(buf, static_cast<size_t>(n));
  close(fd);
}

// Waits for C; returns its exit code (128 + signal if killed).
int Reap(const Child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs the real syslinkctl with ARGS to the end.
Result Spawn(const std::vector<std::string>& args) {
  Child c = StartChild(args);
  Result r{-1, "", ""};
  if (c.pid < 0) return r;
  ReadAll(c.out, &r.out);  // small outputs: stderr's pipe cannot fill meanwhile
  ReadAll(c.err, &r.err);
  r.code = Reap(c);
  return r;
}

TEST_F(SyslinkctlTest, TheBinary) {
  Result r = Spawn({"-E", "unix:" + path_, "-j", "status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json<meshd::admin::GetStatusResponse>(r).node_name(), "node-a");
  r = Spawn({"-E", "unix:" + path_, "nodes"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "NAME")) << r.out;
  r = Spawn({"-E", "unix:" + dir_ + "/nothing.sock", "status"});
  EXPECT_EQ(r.code, 3) << r.err;
  r = Spawn({"status", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "syslinkctl: unknown option --bogus\nTry 'syslinkctl --help'.\n");
  r = Spawn({"ping", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(absl::StartsWith(r.out, "Usage: syslinkctl [OPTIONS] ping NODE")) << r.out;
  r = Spawn({"-E", "unix:" + path_, "watch", "-n", "100ms", "-c", "2", "services"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(r.out, "\033[H\033[2J", absl::SkipEmpty())).size(), 2u)
      << r.out;
}

TEST_F(SyslinkctlTest, TheBinaryWatchEndsOnCtrlC) {
  Child c = StartChild({"-E", "unix:" + path_, "watch", "-n", "1h", "services"});
  ASSERT_GT(c.pid, 0);
  // Wait for the first screen; watch then sleeps for an hour.
  std::string out;
  char buf[4096];
  ssize_t n;
  while (!absl::StrContains(out, "kv-proxy") && (n = read(c.out, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ASSERT_TRUE(absl::StrContains(out, "kv-proxy")) << out;
  kill(c.pid, SIGINT);
  ReadAll(c.out, &out);
  std::string err;
  ReadAll(c.err, &err);
  EXPECT_EQ(Reap(c), 0) << err;
}

// Prints every view of the sample mesh (for docs/operations.md):
//   bazel run //tools/syslinkctl:syslinkctl_test -- --gtest_also_run_disabled_tests
//       --gtest_filter='*DISABLED_PrintExamples'   (one command line)
TEST_F(SyslinkctlTest, DISABLED_PrintExamples) {
  for (const char* cmd : {"status", "nodes", "links", "routes", "sessions", "services", "regions",
                          "sfbuf", "stats", "-j status", "ping node-b -i 1ms", "trace node-c",
                          "drain"}) {
    Result r = Run(cmd);
    printf("$ syslinkctl %s\n%s%s(exit %d)\n\n", cmd, r.out.c_str(), r.err.c_str(), r.code);
  }
}

}  // namespace
}  // namespace syslinkctl
