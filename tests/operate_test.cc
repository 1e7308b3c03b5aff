// Operating it, for real: syslinkctl against live meshd processes (a
// two-node mesh with a service and a session across it), its JSON parsed
// back into the admin API's messages and checked, every exit code, and the
// Prometheus endpoint scraped over HTTP and parsed.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "google/protobuf/util/json_util.h"
#include "proto/admin.pb.h"
#include "syslink/syslink.h"
#include "tests/harness.h"

namespace {

using testing_harness::Channel;
using testing_harness::Child;
using testing_harness::Meshd;
using testing_harness::Runfile;
using testing_harness::TempDir;
using testing_harness::WriteClusterKey;

struct CtlRun {
  int status = -1;  // exit status
  std::string out;
};

// Runs syslinkctl with ARGS (a shell-quoted string), capturing stdout.
CtlRun Ctl(const std::string& args) {
  const std::string cmd = Runfile("tools/syslinkctl/syslinkctl") + " " + args + " 2>/dev/null";
  CtlRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

template <typename M>
M Parse(const std::string& json) {
  M m;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return m;
}

// GET http://127.0.0.1:PORT/metrics; returns the body ("" on failure).
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return "";
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.find(" 200 ") == std::string::npos ||
      body == std::string::npos) {
    return "";
  }
  return resp.substr(body + 4);
}

class Operate : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string key = WriteClusterKey(dir_.path(), "operate-cluster-key-012345");
    const std::string mesh = "mesh { heartbeat_interval_ms: 50 dead_interval_ms: 400 "
                             "cluster_key_file: \"" + key + "\"";
    b_ = std::make_unique<Meshd>(dir_.path(), "b", mesh + " listen_address: \"127.0.0.1:0\" }");
    ASSERT_TRUE(b_->Start()) << b_->ReadLog();
    a_ = std::make_unique<Meshd>(
        dir_.path(), "a",
        // (a busy-polls: the admin API must answer from that loop too)
        mesh + " busy_poll_us: 300 peers { address: \"127.0.0.1:" +
            std::to_string(b_->MeshPort()) + "\" name: \"b\" } }\nmetrics { address: \"127.0.0.1:0\" }");
    ASSERT_TRUE(a_->Start()) << a_->ReadLog();
    a_ctl_ = "-E unix:" + dir_.path() + "/a.admin";
    b_ctl_ = "-E unix:" + dir_.path() + "/b.admin";
  }
  void TearDown() override {
    if (HasFailure()) {
      fprintf(stderr, "---- a ----\n%s\n---- b ----\n%s\n", a_->ReadLog().c_str(),
              b_->ReadLog().c_str());
    }
  }
  int MetricsPort() {
    const std::string log = a_->ReadLog();
    const size_t at = log.find("comp=metrics msg=listening");
    if (at == std::string::npos) return -1;
    const size_t p = log.find("port=", at);
    return p == std::string::npos ? -1 : atoi(log.c_str() + p + 5);
  }
  TempDir dir_;
  std::unique_ptr<Meshd> a_, b_;
  std::string a_ctl_, b_ctl_;
};

TEST_F(Operate, EveryObjectAsJsonAndTables) {
  // A service on b, a client on a with a session open across the mesh.
  // It also registers 64 KiB of its memory as a region, for reading.
  Channel ready, go;
  setenv("SYSLINK_MESHD", b_->client_socket().c_str(), 1);
  Child svc([&] {
    struct syslink_info_listen info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    strcpy(info.service, "kv");
    if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) return 1;
    void* mem = syslink_dma_alloc(64 * 1024);
    struct syslink_region_key key;
    if (mem == nullptr ||
        syslink_region_register(mem, 64 * 1024, SL_REGION_READ, &key) != 0) {
      return 1;
    }
    int64_t k[3];
    memcpy(k, &key, sizeof key);
    ready.PutMany(k, 3);
    char buf[SL_MAXSIZE];
    while (syslink_read(info.fd, buf, sizeof buf) > 0) {
    }
    return 0;
  });
  int64_t k[3];
  for (auto& x : k) ASSERT_TRUE(ready.Get(&x));
  struct syslink_region_key key;
  memcpy(&key, k, sizeof key);
  setenv("SYSLINK_MESHD", a_->client_socket().c_str(), 1);
  int fd = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    struct syslink_info_connect info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    strcpy(info.node, "b");
    strcpy(info.service, "kv");
    if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) == 0) {
      fd = info.fd;
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << strerror(errno);
    std::this_thread::yield();
  }

  CtlRun r = Ctl(a_ctl_ + " -j status");
  ASSERT_EQ(r.status, 0) << r.out;
  auto status = Parse<meshd::admin::GetStatusResponse>(r.out);
  EXPECT_EQ(status.node_name(), "a");
  EXPECT_EQ(status.version(), "0.1.0");
  EXPECT_EQ(status.health().nodes_reachable(), 2u);
  EXPECT_EQ(status.health().peers_up(), 1u);
  EXPECT_EQ(status.health().sessions_remote(), 1u);
  EXPECT_EQ(status.config().busy_poll_us(), 300u);
  // The key as an id, never the key.
  const std::string key_id = status.config().cluster_key_id();
  EXPECT_EQ(key_id.size(), 8u);
  EXPECT_EQ(key_id.find_first_not_of("0123456789abcdef"), std::string::npos) << key_id;
  EXPECT_EQ(status.config().accepted_key_ids_size(), 0);
  EXPECT_EQ(r.out.find("operate-cluster-key"), std::string::npos);
  r = Ctl(a_ctl_ + " status");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("busy polling:    adaptive, up to 300 µs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cluster key:     " + key_id + "\n"), std::string::npos) << r.out;

  r = Ctl(a_ctl_ + " -j nodes");
  ASSERT_EQ(r.status, 0) << r.out;
  auto nodes = Parse<meshd::admin::ListNodesResponse>(r.out);
  ASSERT_EQ(nodes.nodes_size(), 2);
  EXPECT_EQ(nodes.nodes(0).name(), "a");
  EXPECT_EQ(nodes.nodes(0).state(), meshd::admin::Node::SELF);
  EXPECT_EQ(nodes.nodes(1).name(), "b");
  EXPECT_EQ(nodes.nodes(1).state(), meshd::admin::Node::REACHABLE);

  r = Ctl(a_ctl_ + " -j links");
  ASSERT_EQ(r.status, 0) << r.out;
  auto links = Parse<meshd::admin::ListLinksResponse>(r.out);
  ASSERT_EQ(links.links_size(), 1);
  EXPECT_EQ(links.links(0).peer_name(), "b");
  EXPECT_EQ(links.links(0).state(), meshd::admin::Link::ESTABLISHED);
  EXPECT_GT(links.links(0).bytes_out(), 0u);
  ASSERT_EQ(links.peers_size(), 1);
  EXPECT_EQ(links.peers(0).state(), "up");

  r = Ctl(a_ctl_ + " -j routes");
  ASSERT_EQ(r.status, 0);
  auto routes = Parse<meshd::admin::ListRoutesResponse>(r.out);
  ASSERT_EQ(routes.routes_size(), 1);
  EXPECT_EQ(routes.routes(0).node_name(), "b");
  EXPECT_EQ(routes.routes(0).hops(), 1u);

  struct syslink_stats st;
  ASSERT_EQ(syslink_get_stats(fd, &st), 0);
  r = Ctl(a_ctl_ + " -j sessions");
  ASSERT_EQ(r.status, 0);
  auto sessions = Parse<meshd::admin::ListSessionsResponse>(r.out);
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_EQ(sessions.sessions(0).sessid(), st.sessid);
  EXPECT_EQ(sessions.sessions(0).kind(), meshd::admin::Session::CLIENT_EDGE);
  EXPECT_EQ(sessions.sessions(0).service_node(), "b");
  r = Ctl(b_ctl_ + " -j sessions");
  sessions = Parse<meshd::admin::ListSessionsResponse>(r.out);
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_EQ(sessions.sessions(0).kind(), meshd::admin::Session::SERVICE_EDGE);
  EXPECT_EQ(sessions.sessions(0).client_node(), "a");
  EXPECT_EQ(sessions.sessions(0).service_pid(), svc.pid());

  r = Ctl(b_ctl_ + " -j services");
  ASSERT_EQ(r.status, 0);
  auto services = Parse<meshd::admin::ListServicesResponse>(r.out);
  // Ordered by name: the application's, then meshd's own (regions).
  ASSERT_EQ(services.services_size(), 2);
  EXPECT_EQ(services.services(0).name(), "kv");
  EXPECT_EQ(services.services(0).sessions(), 1u);
  EXPECT_EQ(services.services(1).name(), "meshd.regions");
  EXPECT_EQ(services.services(1).pid(), b_->pid());

  r = Ctl(a_ctl_ + " -j sfbuf");
  ASSERT_EQ(r.status, 0);
  auto sf = Parse<meshd::admin::GetSfBufStatsResponse>(r.out);
  EXPECT_EQ(sf.max(), 1024u);  // regions.sfbuf_pool_pages' default

  r = Ctl(a_ctl_ + " -j stats");
  ASSERT_EQ(r.status, 0);
  auto counters = Parse<meshd::admin::GetCountersResponse>(r.out);
  EXPECT_GE(counters.sessions().remote_opens(), 1u);  // retried while routes converged
  EXPECT_EQ(counters.sessions().connects_ok(), 1u);
  EXPECT_EQ(counters.mesh().handshakes_ok(), 1u);

  // The region on b, read from a: b lists it, with what was done to it.
  char page[4096];
  ASSERT_EQ(syslink_region_read(&key, 4096, page, sizeof page), 4096) << strerror(errno);
  r = Ctl(a_ctl_ + " -j regions");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(Parse<meshd::admin::ListRegionsResponse>(r.out).regions_size(), 0);
  r = Ctl(b_ctl_ + " -j regions");
  ASSERT_EQ(r.status, 0);
  auto regions = Parse<meshd::admin::ListRegionsResponse>(r.out);
  ASSERT_EQ(regions.regions_size(), 1);
  EXPECT_EQ(regions.total_bytes(), 64u * 1024);
  EXPECT_EQ(regions.regions(0).id(), key.slot);
  EXPECT_EQ(regions.regions(0).generation(), key.generation);
  EXPECT_EQ(regions.regions(0).owner_pid(), svc.pid());
  EXPECT_TRUE(regions.regions(0).readable());
  EXPECT_FALSE(regions.regions(0).writable());
  EXPECT_EQ(regions.regions(0).reads(), 1u);
  EXPECT_EQ(regions.regions(0).bytes_read(), 4096u);
  EXPECT_EQ(r.out.find(std::to_string(key.secret)), std::string::npos) << "the key is secret";
  r = Ctl(b_ctl_ + " regions");
  EXPECT_NE(r.out.find("r-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 region"), std::string::npos) << r.out;
  r = Ctl(b_ctl_ + " -j sfbuf");
  auto bsf = Parse<meshd::admin::GetSfBufStatsResponse>(r.out);
  EXPECT_GE(bsf.misses(), 1u) << "meshd maps region pages through its sf_buf cache";
  r = Ctl(b_ctl_ + " -j stats");
  auto bcounters = Parse<meshd::admin::GetCountersResponse>(r.out);
  EXPECT_EQ(bcounters.regions().registered(), 1u);
  EXPECT_EQ(bcounters.regions().reads(), 1u);
  EXPECT_EQ(bcounters.regions().bytes_read(), 4096u);

  // a busy-polls, up to 300 µs: the replies to round trips through it are
  // found by polling (a wake-up saved each), and its counters say so.
  // Bounded: reads until they do, or the deadline.
  {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    meshd::admin::GetCountersResponse c;
    for (;;) {
      for (int i = 0; i < 100; i++) {
        ASSERT_EQ(syslink_region_read(&key, 4096, page, sizeof page), 4096) << strerror(errno);
      }
      r = Ctl(a_ctl_ + " -j stats");
      ASSERT_EQ(r.status, 0) << r.out;
      c = Parse<meshd::admin::GetCountersResponse>(r.out);
      if (c.loop().poll_hits() > 0) break;
      ASSERT_LT(std::chrono::steady_clock::now(), until) << "no event found by polling: " << r.out;
    }
    EXPECT_LE(c.loop().poll_window_us(), 300u);
    EXPECT_GT(c.loop().poll_idle_us() + c.loop().poll_misses(), 0u) << r.out;
  }
  // Turned off by a reload (SIGHUP), no restart: the session stays open.
  ASSERT_TRUE(a_->Reload(" busy_poll_us: 300 ", " busy_poll_us: 0 ")) << a_->ReadLog();
  EXPECT_TRUE(a_->WaitLog("busy_poll_us=0")) << a_->ReadLog();
  r = Ctl(a_ctl_ + " status");
  EXPECT_NE(r.out.find("busy polling:    off"), std::string::npos) << r.out;
  // So do the client limits; the status shows what runs.
  const std::string sock = "socket_path: \"" + a_->client_socket() + "\"";
  ASSERT_TRUE(a_->Reload(sock, sock + " max_services: 7"));
  r = Ctl(a_ctl_ + " -j status");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(Parse<meshd::admin::GetStatusResponse>(r.out).config().max_services(), 7u) << r.out;
  ASSERT_EQ(syslink_region_read(&key, 4096, page, sizeof page), 4096) << strerror(errno);

  // Tables: every object, each showing what is live right now.
  r = Ctl(a_ctl_ + " nodes");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  EXPECT_NE(r.out.find("reachable"), std::string::npos);
  r = Ctl(b_ctl_ + " links");
  EXPECT_NE(r.out.find("established"), std::string::npos);
  char sessid_hex[32];
  snprintf(sessid_hex, sizeof sessid_hex, "%016llx", static_cast<unsigned long long>(st.sessid));
  const struct {
    const std::string* ctl;
    const char* object;
    std::string want;  // a live value the table must show
  } tables[] = {
      {&a_ctl_, "status", "2 of 2 reachable"},
      {&a_ctl_, "routes", "b"},
      {&a_ctl_, "sessions", sessid_hex},
      {&b_ctl_, "services", "meshd.regions"},
      {&b_ctl_, "regions", "r-"},
      {&b_ctl_, "sfbuf", "misses"},
      {&b_ctl_, "stats", "regions.reads"},
  };
  for (const auto& t : tables) {
    r = Ctl(*t.ctl + " " + t.object);
    EXPECT_EQ(r.status, 0) << t.object << ":\n" << r.out;
    EXPECT_NE(r.out.find(t.want), std::string::npos) << t.object << ":\n" << r.out;
  }

  // ping and trace across the mesh.
  r = Ctl(a_ctl_ + " ping b -c 2 -i 10ms");
  EXPECT_EQ(r.status, 0) << r.out;
  r = Ctl(a_ctl_ + " -j trace b");
  ASSERT_EQ(r.status, 0) << r.out;
  auto trace = Parse<meshd::admin::TraceResponse>(r.out);
  ASSERT_EQ(trace.hops_size(), 1);
  EXPECT_EQ(trace.hops(0).name(), "b");
  syslink_close(fd);
}

TEST_F(Operate, ExitCodes) {
  EXPECT_EQ(Ctl(a_ctl_ + " status").status, 0);
  EXPECT_EQ(Ctl(a_ctl_ + " ping nowhere -c 1").status, 1);     // a problem found
  EXPECT_EQ(Ctl(a_ctl_ + " frobnicate").status, 2);            // usage
  EXPECT_EQ(Ctl(a_ctl_ + " --no-such-flag status").status, 2);
  EXPECT_EQ(Ctl("-E unix:" + dir_.path() + "/none.sock status").status, 3);  // unreachable
  // b dies: a's view of the mesh shows a problem.
  b_->Signal(SIGKILL);
  ASSERT_NE(b_->Wait(), -1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int st = 0;
  while ((st = Ctl(a_ctl_ + " status").status) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(st, 1);
  // Drain: meshd refuses new sessions and says so.
  CtlRun r = Ctl(a_ctl_ + " -j drain");
  EXPECT_EQ(r.status, 0);
  r = Ctl(a_ctl_ + " -j status");
  EXPECT_TRUE(Parse<meshd::admin::GetStatusResponse>(r.out).draining());
}

TEST_F(Operate, MetricsScrapedAndParsed) {
  const int port = MetricsPort();
  ASSERT_GT(port, 0) << a_->ReadLog();
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // Until the mesh link is up, so the mesh metrics are nonzero.
  while (std::chrono::steady_clock::now() < deadline) {
    body = Scrape(port);
    if (body.find("meshd_mesh_links{state=\"established\"} 1") != std::string::npos) break;
  }
  ASSERT_FALSE(body.empty());
  // Every line: a comment (# HELP/# TYPE) or "name{labels} value".
  std::map<std::string, double> values;
  std::istringstream in(body);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_TRUE(line.rfind("# HELP meshd_", 0) == 0 || line.rfind("# TYPE meshd_", 0) == 0)
          << line;
      continue;
    }
    const size_t sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    const std::string name = line.substr(0, sp);
    EXPECT_EQ(name.rfind("meshd_", 0), 0u) << line;
    char* end = nullptr;
    const double v = strtod(line.c_str() + sp + 1, &end);
    EXPECT_EQ(*end, '\0') << line;
    values[name] = v;
    samples++;
  }
  EXPECT_GT(samples, 30);
  EXPECT_EQ(values["meshd_up"], 1);
  EXPECT_EQ(values["meshd_mesh_links{state=\"established\"}"], 1);
  EXPECT_GT(values["meshd_uptime_seconds"], 0);
  EXPECT_EQ(values["meshd_sfbuf_max"], 1024);
  EXPECT_NE(body.find("# TYPE meshd_sessions_opened_total counter"), std::string::npos);
}

}  // namespace
