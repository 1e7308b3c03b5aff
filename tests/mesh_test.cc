// The mesh, for real: several meshd processes joined over TCP, a service on
// one node, clients on another, traffic through a third; then SIGKILL a
// meshd under load, take links down, restart nodes, and count every command
// and reply (SPEC §5). Two settings: loopback ports in this namespace, and
// a line of network namespaces joined by veth pairs, where the middle node
// must forward (skipped, with a message, where `ip netns` is unavailable).
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/log_capture.h"
#include "common/stranger.h"
#include "syslink/syslink.h"
#include "tests/harness.h"

namespace {

using testing_harness::Channel;
using testing_harness::Child;
using testing_harness::Meshd;
using testing_harness::Shell;
using testing_harness::TempDir;
using testing_harness::WriteClusterKey;

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(500);
constexpr sl_cmd_t kEcho = 1, kHold = 2, kPing = 3;
// Fast failure detection for tests.
const char kTimers[] = "heartbeat_interval_ms: 50 dead_interval_ms: 400 "
                       "reconnect_backoff_min_ms: 50 reconnect_backoff_max_ms: 300";

union Msg {
  struct syslink_msg msg;
  unsigned char buf[SL_MAXSIZE];
};

Msg Command(uint64_t msgid, sl_cmd_t cmd, uint64_t sessid = 0) {
  Msg m;
  memset(&m, 0, sizeof m);
  sl_msg_init_cmd(&m.msg, kProto, cmd);
  m.msg.sm_msgid = msgid;
  m.msg.sm_sessid = sessid;
  sl_msg_fini(&m.msg);
  return m;
}

size_t Len(const Msg& m) { return SL_MSG_ALIGN(m.msg.sm_bytes); }

void Use(const Meshd& m) { setenv("SYSLINK_MESHD", m.client_socket().c_str(), 1); }

int Connect(const char* node, const char* service, int timeout_ms, int* fd) {
  struct syslink_info_connect info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  snprintf(info.node, sizeof info.node, "%s", node);
  snprintf(info.service, sizeof info.service, "%s", service);
  info.timeout_ms = timeout_ms;
  if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) != 0) return errno;
  *fd = info.fd;
  return 0;
}

// CONNECT until it works or DEADLINE passes (routes converge, services
// re-register: both asynchronous).
int ConnectWithin(const char* node, const char* service, std::chrono::seconds within,
                  int* fd) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    const int err = Connect(node, service, 2000, fd);
    if (err == 0 || std::chrono::steady_clock::now() > deadline) return err;
    std::this_thread::yield();
  }
}

// The service: echoes kEcho (DMA data +1), holds kHold, and sends PINGS
// kPing commands to each new session. For each session that closes it
// reports: pings answered, how many of those replies carried WANT_ERRNO,
// and the close reason.
int Serve(const char* name, Channel* ready, int pings, Channel* report) {
  struct syslink_info_listen info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  snprintf(info.service, sizeof info.service, "%s", name);
  if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) {
    ready->Put(errno);
    return 1;
  }
  ready->Put(0);
  const int fd = info.fd;
  static unsigned char data[SL_DMA_MAX] __attribute__((aligned(4096)));
  uint64_t next = 1;
  std::map<uint64_t, std::set<uint64_t>> ping_replies;  // sessid -> msgids
  std::map<uint64_t, int> dup;
  for (;;) {
    Msg m;
    struct iovec iov[2] = {{&m, sizeof m}, {data, sizeof data}};
    if (syslink_readv(fd, iov, 2) <= 0) return 2;
    if (m.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
      const sl_cmd_t what = m.msg.sm_head.se_cmd & SE_CMD_MASK;
      if (what == SL_NOTICE_SESSION_OPEN) {
        for (int i = 0; i < pings; i++) {
          Msg p = Command(next++, kPing, m.msg.sm_sessid);
          // EPIPE: that session already ended (a short-lived client).
          if (syslink_write(fd, &p, Len(p)) < 0 && errno != EPIPE) return 3;
        }
      } else if (report != nullptr) {
        const int64_t v[3] = {static_cast<int64_t>(ping_replies[m.msg.sm_sessid].size()),
                              dup[m.msg.sm_sessid], m.msg.sm_head.se_aux};
        report->PutMany(v, 3);
      }
      continue;
    }
    if (m.msg.sm_proto & SM_PROTO_REPLY) {
      if (!ping_replies[m.msg.sm_sessid].insert(m.msg.sm_msgid).second) {
        dup[m.msg.sm_sessid]++;
      }
      continue;
    }
    if ((m.msg.sm_head.se_cmd & SE_CMD_MASK) == kHold) continue;
    const size_t got = syslink_dma_bytes();
    for (size_t i = 0; i < got; i++) data[i]++;
    Msg r;
    sl_msg_init_reply(&m.msg, &r.msg, 0);
    sl_msg_fini(&r.msg);
    struct iovec out[2] = {{&r, Len(r)}, {data, got}};
    const bool dmar = m.msg.sm_head.se_cmd & SE_CMDF_DMAR;
    if (syslink_writev(fd, out, dmar && got > 0 ? 2 : 1) < 0 && errno != EPIPE) return 4;
  }
}

// One DMA echo round trip (64 KiB, both directions), checked. Replies to
// other commands (OTHERS: msgid -> errno, may be null) that arrive first are
// recorded there. Returns 0, the errno of the echo's reply, or -errno if
// the command could not even be sent.
int EchoOnce(int fd, uint64_t id, unsigned char* buf,
             std::map<uint64_t, std::vector<int>>* others = nullptr) {
  constexpr size_t kLen = 65536;
  for (size_t i = 0; i < kLen; i++) buf[i] = static_cast<unsigned char>(i + id);
  Msg c = Command(id, kEcho | SE_CMDF_DMAW | SE_CMDF_DMAR);
  struct iovec iov[2] = {{&c, Len(c)}, {buf, kLen}};
  if (syslink_writev(fd, iov, 2) < 0) return -errno;  // not sent: no reply due
  for (;;) {
    Msg r;
    const ssize_t n = syslink_read(fd, &r, sizeof r);
    if (n == 0) return EPIPE;
    if (n < 0) return errno;
    if (!(r.msg.sm_proto & SM_PROTO_REPLY)) continue;  // a ping: held
    if (r.msg.sm_msgid != id) {
      if (others == nullptr) return EPROTO;
      (*others)[r.msg.sm_msgid].push_back(r.msg.sm_head.se_aux);
      continue;
    }
    if (r.msg.sm_head.se_aux != 0) return r.msg.sm_head.se_aux;
    if (syslink_dma_bytes() != kLen) return EMSGSIZE;
    break;
  }
  for (size_t i = 0; i < kLen; i++) {
    if (buf[i] != static_cast<unsigned char>(i + id + 1)) return EBADMSG;
  }
  return 0;
}

// A client under load: echoes continuously, keeping HOLDS commands
// outstanding, until its session fails; then reports what it saw:
// successful echoes, then the errno of each synthesized reply (one line
// per command outstanding), each msgid exactly once.
struct LoadResult {
  int64_t echoes = 0;
  int64_t replies = 0;      // synthesized replies received
  int64_t dups = 0;         // duplicate replies (must be 0)
  int64_t missing = 0;      // outstanding commands without a reply (must be 0)
  int64_t wrong_errno = 0;  // synthesized replies with another errno
};

int LoadClient(const char* node, const char* service, int holds, int want_errno,
               Channel* progress, Channel* result) {
  int fd;
  const int cerr = Connect(node, service, 5000, &fd);
  if (cerr != 0) {
    fprintf(stderr, "load client: connect: %s\n", strerror(cerr));
    return 40;
  }
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  std::set<uint64_t> outstanding;
  for (int i = 0; i < holds; i++) {
    Msg h = Command(1000000 + i, kHold);
    if (syslink_write(fd, &h, Len(h)) < 0) return 41;
    outstanding.insert(1000000 + i);
  }
  LoadResult r;
  bool reported = false;
  std::map<uint64_t, std::vector<int>> others;  // replies to the holds
  for (uint64_t id = 1;; id++) {
    const int err = EchoOnce(fd, id, buf, &others);
    if (err < 0) break;  // the link was already gone: nothing was sent
    if (err != 0) {
      // The session failed: the echo in flight got its synthesized reply
      // (err), and every hold must get one too.
      r.replies++;
      if (err != want_errno) r.wrong_errno++;
      break;
    }
    r.echoes++;
    if (r.echoes == 20 && !reported) {
      progress->Put(1);
      reported = true;
    }
  }
  for (;;) {
    Msg m;
    const ssize_t n = syslink_read(fd, &m, sizeof m);
    if (n <= 0) break;
    if (!(m.msg.sm_proto & SM_PROTO_REPLY)) continue;
    others[m.msg.sm_msgid].push_back(m.msg.sm_head.se_aux);
  }
  std::set<uint64_t> seen;
  for (const auto& [msgid, errs] : others) {
    seen.insert(msgid);
    r.replies += static_cast<int64_t>(errs.size());
    r.dups += static_cast<int64_t>(errs.size()) - 1;
    for (int e : errs) r.wrong_errno += e != want_errno;
  }
  for (uint64_t id : outstanding) r.missing += seen.count(id) == 0;
  const int64_t v[5] = {r.echoes, r.replies, r.dups, r.missing, r.wrong_errno};
  result->PutMany(v, 5);  // one write: clients share the channel
  return 0;
}

LoadResult GetResult(Channel* ch) {
  LoadResult r;
  EXPECT_TRUE(ch->Get(&r.echoes));
  EXPECT_TRUE(ch->Get(&r.replies));
  EXPECT_TRUE(ch->Get(&r.dups));
  EXPECT_TRUE(ch->Get(&r.missing));
  EXPECT_TRUE(ch->Get(&r.wrong_errno));
  return r;
}

// ---------------------------------------------------------------------------
// Loopback

class MeshLoopback : public ::testing::Test {
 protected:
  void SetUp() override { key_ = WriteClusterKey(dir_.path(), "test-cluster-key-0123456789"); }
  void TearDown() override {
    if (HasFailure()) {
      for (auto* m : {a_.get(), b_.get(), c_.get()}) {
        if (m != nullptr) fprintf(stderr, "---- %s ----\n%s\n", m->log_path().c_str(),
                                  m->ReadLog().c_str());
      }
    }
  }
  std::string MeshConf(const std::string& listen, const std::vector<int>& peer_ports,
                       const std::string& key = "") {
    std::string s = "mesh { " + std::string(kTimers) + " cluster_key_file: \"" +
                    (key.empty() ? key_ : key) + "\"";
    if (!listen.empty()) s += " listen_address: \"" + listen + "\"";
    for (int p : peer_ports) s += " peers { address: \"127.0.0.1:" + std::to_string(p) + "\" }";
    return s + extra_mesh_ + " }";
  }
  // A line A - B - C: B listens, A and C dial it.
  void StartLine() {
    b_ = std::make_unique<Meshd>(dir_.path(), "b", MeshConf("127.0.0.1:0", {}));
    ASSERT_TRUE(b_->Start()) << b_->ReadLog();
    b_port_ = b_->MeshPort();
    ASSERT_GT(b_port_, 0);
    a_ = std::make_unique<Meshd>(dir_.path(), "a", MeshConf("", {b_port_}));
    c_ = std::make_unique<Meshd>(dir_.path(), "c", MeshConf("", {b_port_}));
    ASSERT_TRUE(a_->Start()) << a_->ReadLog();
    ASSERT_TRUE(c_->Start()) << c_->ReadLog();
  }
  // StartLine(), echoes from A to C through B, then SIGTERM to A and B:
  // each must exit 0.
  void ServeThroughTheLineAndStop();
  TempDir dir_;
  std::string key_;
  std::string extra_mesh_;  // more fields for every node's mesh { }
  std::unique_ptr<Meshd> a_, b_, c_;
  int b_port_ = -1;
};

// Over the line: an echo service on C, a session to it from A through B,
// ROUNDS echoes with DMA both ways, each checked.
void EchoThroughTheLine(Meshd& a, Meshd& c, int rounds) {
  Channel ready;
  Use(c);
  Child svc([&] { return Serve("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  Use(a);
  int fd;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &fd), 0);
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  for (int i = 1; i <= rounds; i++) ASSERT_EQ(EchoOnce(fd, i, buf), 0) << i;
  syslink_close(fd);
  syslink_dma_free(buf);
}

TEST_F(MeshLoopback, ThroughTheMiddleNode) {
  StartLine();
  EchoThroughTheLine(*a_, *c_, 50);
  if (HasFatalFailure()) return;
  // Errors: no such service there; no such node.
  Use(*a_);
  int other;
  EXPECT_EQ(Connect("c", "nobody", 2000, &other), ECONNREFUSED);
  EXPECT_EQ(Connect("zz", "echo", 2000, &other), EHOSTUNREACH);
}

// Busy polling (mesh.busy_poll_us) changes how meshd waits, not what it
// does: with a long ceiling (so the window grows wide) and with polling off
// (every other test runs meshd's default, adaptive up to 200 µs), traffic
// through the middle node is answered, and each meshd stops cleanly on
// SIGTERM, from inside its polling window or asleep.
void MeshLoopback::ServeThroughTheLineAndStop() {
  StartLine();
  EchoThroughTheLine(*a_, *c_, 200);
  if (HasFatalFailure()) return;
  for (Meshd* m : {a_.get(), b_.get()}) {
    m->Signal(SIGTERM);
    const int status = m->Wait();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
}

TEST_F(MeshLoopback, BusyPollingNodesServeAndStop) {
  extra_mesh_ = " busy_poll_us: 5000";
  ServeThroughTheLineAndStop();
}

TEST_F(MeshLoopback, NonPollingNodesServeAndStop) {
  extra_mesh_ = " busy_poll_us: 0";
  ServeThroughTheLineAndStop();
}

// The middle node dies under load: every outstanding command on both sides
// gets exactly one EHOSTUNREACH; after a restart, new sessions work again.
TEST_F(MeshLoopback, MiddleNodeKilledUnderLoad) {
  StartLine();
  constexpr int kPings = 6, kHolds = 25, kClients = 3;
  Channel ready, report;
  Use(*c_);
  Child svc([&] { return Serve("echo", &ready, kPings, &report); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  Use(*a_);
  int probe;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &probe), 0);
  syslink_close(probe);
  Channel progress, result;
  std::vector<std::unique_ptr<Child>> clients;
  for (int i = 0; i < kClients; i++) {
    clients.push_back(std::make_unique<Child>(
        [&] { return LoadClient("c", "echo", kHolds, EHOSTUNREACH, &progress, &result); }));
  }
  for (int i = 0; i < kClients; i++) ASSERT_TRUE(progress.Get(&v));
  b_->Signal(SIGKILL);
  ASSERT_NE(b_->Wait(), -1);
  int64_t total_echoes = 0;
  for (int i = 0; i < kClients; i++) {
    const LoadResult r = GetResult(&result);
    total_echoes += r.echoes;
    EXPECT_EQ(r.dups, 0);
    EXPECT_EQ(r.missing, 0);
    EXPECT_EQ(r.wrong_errno, 0);
    // The holds, and the echo in flight unless the link died between two.
    EXPECT_GE(r.replies, kHolds);
    EXPECT_LE(r.replies, kHolds + 1);
  }
  for (auto& c : clients) EXPECT_EQ(c->Wait(), 0);
  // The service side: the probe session closed normally, then one report
  // per loaded session: its pings each answered once, with EHOSTUNREACH.
  int64_t pings, dups, why;
  ASSERT_TRUE(report.Get(&pings));  // the probe
  ASSERT_TRUE(report.Get(&dups));
  ASSERT_TRUE(report.Get(&why));
  EXPECT_EQ(why, ECONNRESET);
  for (int i = 0; i < kClients; i++) {
    ASSERT_TRUE(report.Get(&pings));
    ASSERT_TRUE(report.Get(&dups));
    ASSERT_TRUE(report.Get(&why));
    EXPECT_EQ(pings, kPings);
    EXPECT_EQ(dups, 0);
    EXPECT_EQ(why, EHOSTUNREACH);
  }
  fprintf(stderr, "echoes before the kill: %lld\n", static_cast<long long>(total_echoes));
  // B comes back (on the port its peers know): routes converge, traffic
  // resumes.
  b_ = std::make_unique<Meshd>(dir_.path(), "b",
                               MeshConf("127.0.0.1:" + std::to_string(b_port_), {}));
  ASSERT_TRUE(b_->Start()) << b_->ReadLog();
  int fd;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &fd), 0);
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  for (uint64_t i = 1; i <= 20; i++) ASSERT_EQ(EchoOnce(fd, i, buf), 0) << i;
  syslink_close(fd);
  syslink_dma_free(buf);
}

// The service's node dies: its clients' commands get EHOSTUNREACH once each.
TEST_F(MeshLoopback, ServiceNodeKilled) {
  StartLine();
  Channel ready;
  Use(*c_);
  Child svc([&] { return Serve("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  Use(*a_);
  int probe;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &probe), 0);
  syslink_close(probe);
  Channel progress, result;
  Child client([&] { return LoadClient("c", "echo", 10, EHOSTUNREACH, &progress, &result); });
  ASSERT_TRUE(progress.Get(&v));
  c_->Signal(SIGKILL);
  ASSERT_NE(c_->Wait(), -1);
  const LoadResult r = GetResult(&result);
  EXPECT_EQ(r.dups, 0);
  EXPECT_EQ(r.missing, 0);
  EXPECT_EQ(r.wrong_errno, 0);
  EXPECT_GE(r.replies, 10);
  EXPECT_LE(r.replies, 11);
  EXPECT_EQ(client.Wait(), 0);
}

// The client's own meshd dies: the library answers ECONNABORTED itself.
TEST_F(MeshLoopback, ClientNodeMeshdKilled) {
  StartLine();
  Channel ready;
  Use(*c_);
  Child svc([&] { return Serve("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  Use(*a_);
  int probe;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &probe), 0);
  syslink_close(probe);
  Channel progress, result;
  Child client([&] { return LoadClient("c", "echo", 10, ECONNABORTED, &progress, &result); });
  ASSERT_TRUE(progress.Get(&v));
  a_->Signal(SIGKILL);
  ASSERT_NE(a_->Wait(), -1);
  const LoadResult r = GetResult(&result);
  EXPECT_EQ(r.dups, 0);
  EXPECT_EQ(r.missing, 0);
  EXPECT_EQ(r.wrong_errno, 0);
  EXPECT_EQ(client.Wait(), 0);
}

// Starts the echo service (Serve, no pings) on M's node and waits until it
// has registered; null if it could not.
std::unique_ptr<Child> StartEcho(const Meshd& m, Channel* ready) {
  Use(m);
  auto svc = std::make_unique<Child>([ready] { return Serve("echo", ready, 0, nullptr); });
  int64_t v;
  if (!ready->Get(&v) || v != 0) return nullptr;
  return svc;
}

// A node with the wrong key never joins: nobody can reach it, and it
// reaches nobody.
TEST_F(MeshLoopback, WrongKeyNeverJoins) {
  b_ = std::make_unique<Meshd>(dir_.path(), "b", MeshConf("127.0.0.1:0", {}));
  ASSERT_TRUE(b_->Start()) << b_->ReadLog();
  const std::string wrong = dir_.path() + "/wrong.key";
  ASSERT_EQ(Shell("umask 077; echo wrong-key-wrong-key-wrong > " + wrong), 0);
  auto d = std::make_unique<Meshd>(dir_.path(), "d", MeshConf("", {b_->MeshPort()}, wrong));
  ASSERT_TRUE(d->Start()) << d->ReadLog();
  Channel ready;
  auto svc = StartEcho(*d, &ready);
  ASSERT_NE(svc, nullptr);
  // Give the handshake every chance (several dial attempts), then check.
  Use(*b_);
  int fd;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(Connect("d", "echo", 500, &fd), EHOSTUNREACH);
  }
  EXPECT_NE(b_->ReadLog().find("handshake_failed"), std::string::npos)
      << "b should log the refusal";
  d.reset();
}

// Rotating the cluster key without a restart (docs/operations.md): B
// reloads its keys on SIGHUP and D, which already proves the new key,
// joins as soon as B accepts it; each later step keeps the link up, and a
// reload that cannot load a key changes nothing.
TEST_F(MeshLoopback, ClusterKeyRotatesOnSighup) {
  const std::string next = dir_.path() + "/next.key";
  ASSERT_EQ(Shell("umask 077; echo the-next-cluster-key-0123 > " + next), 0);
  const std::string b_old = MeshConf("127.0.0.1:0", {});
  b_ = std::make_unique<Meshd>(dir_.path(), "b", b_old);
  ASSERT_TRUE(b_->Start()) << b_->ReadLog();
  const int port = b_->MeshPort();
  // D has gone ahead: it proves the new key and accepts the old.
  const std::string accept_old = " accept_cluster_key_files: \"" + key_ + "\"";
  extra_mesh_ = accept_old;
  const std::string d_step2 = MeshConf("", {port}, next);
  extra_mesh_.clear();
  auto d = std::make_unique<Meshd>(dir_.path(), "d", d_step2);
  ASSERT_TRUE(d->Start()) << d->ReadLog();
  Channel ready;
  auto svc = StartEcho(*d, &ready);
  ASSERT_NE(svc, nullptr);
  // B, on the old key alone, refuses D.
  ASSERT_TRUE(b_->WaitLog("wrong_key: peer does not know the cluster key")) << b_->ReadLog();
  Use(*b_);
  int fd;
  EXPECT_EQ(Connect("d", "echo", 500, &fd), EHOSTUNREACH);

  // Step 1 on B: accept the new key. D's next dial gets in.
  extra_mesh_ = " accept_cluster_key_files: \"" + next + "\"";
  const std::string b_step1 = MeshConf("127.0.0.1:" + std::to_string(port), {});
  extra_mesh_.clear();
  ASSERT_TRUE(b_->Reload(b_old, b_step1)) << b_->ReadLog();
  ASSERT_EQ(ConnectWithin("d", "echo", std::chrono::seconds(20), &fd), 0) << b_->ReadLog();
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  ASSERT_EQ(EchoOnce(fd, 1, buf), 0);
  EXPECT_TRUE(b_->WaitLog("peer=d peer_id=")) << b_->ReadLog();
  EXPECT_NE(b_->ReadLog().find("peer_key=accepted"), std::string::npos) << b_->ReadLog();
  // The listen address changed in the file (port 0 became the port): not
  // applied, and said so.
  EXPECT_TRUE(b_->WaitLog("settings=mesh.listen_address")) << b_->ReadLog();

  // Step 2 on B: prove the new key, accept the old; then step 3 on both:
  // the new key alone. The session carries on throughout.
  extra_mesh_ = accept_old;
  const std::string b_step2 = MeshConf("127.0.0.1:" + std::to_string(port), {}, next);
  extra_mesh_.clear();
  ASSERT_TRUE(b_->Reload(b_step1, b_step2)) << b_->ReadLog();
  ASSERT_EQ(EchoOnce(fd, 2, buf), 0);
  const std::string b_step3 = MeshConf("127.0.0.1:" + std::to_string(port), {}, next);
  ASSERT_TRUE(b_->Reload(b_step2, b_step3)) << b_->ReadLog();
  const std::string d_step3 = MeshConf("", {port}, next);
  ASSERT_TRUE(d->Reload(d_step2, d_step3)) << d->ReadLog();
  ASSERT_EQ(EchoOnce(fd, 3, buf), 0);

  // A reload whose key file is not private fails and changes nothing.
  const std::string open_key = dir_.path() + "/open.key";
  ASSERT_EQ(Shell("echo an-open-cluster-key-0123456 > " + open_key + "; chmod 644 " + open_key),
            0);
  const std::string b_bad = MeshConf("127.0.0.1:" + std::to_string(port), {}, open_key);
  ASSERT_TRUE(b_->Reload(b_step3, b_bad, "STATUS=reload failed")) << b_->ReadLog();
  EXPECT_TRUE(b_->WaitLog("reload failed, nothing changed")) << b_->ReadLog();
  ASSERT_EQ(EchoOnce(fd, 4, buf), 0);
  syslink_close(fd);

  // D restarted on the new key: a fresh handshake, which B (still on the
  // new key, not the open one) takes; the echo service registers again
  // with the new meshd by itself.
  d->Signal(SIGTERM);
  ASSERT_EQ(d->Wait(), 0);
  ASSERT_TRUE(d->Start()) << d->ReadLog();
  Use(*b_);
  ASSERT_EQ(ConnectWithin("d", "echo", std::chrono::seconds(20), &fd), 0) << b_->ReadLog();
  ASSERT_EQ(EchoOnce(fd, 5, buf), 0);
  syslink_close(fd);
  syslink_dma_free(buf);
  d.reset();
}

// The peers change on SIGHUP, without a restart: A, which dials nobody,
// reaches C's service through B once a reload adds B; a reload that drops
// B again leaves the link up, and the session on it.
TEST_F(MeshLoopback, PeersChangeOnSighup) {
  StartLine();  // B listens; A and C dial it
  const std::string none = MeshConf("127.0.0.1:0", {});
  auto d = std::make_unique<Meshd>(dir_.path(), "d", none);
  ASSERT_TRUE(d->Start()) << d->ReadLog();
  Channel ready;
  auto svc = StartEcho(*c_, &ready);
  ASSERT_NE(svc, nullptr);
  Use(*d);
  int fd;
  EXPECT_EQ(Connect("c", "echo", 500, &fd), EHOSTUNREACH);
  const std::string to_b = MeshConf("127.0.0.1:0", {b_port_});
  ASSERT_TRUE(d->Reload(none, to_b)) << d->ReadLog();
  EXPECT_TRUE(d->WaitLog("msg=\"peers changed\" added=127.0.0.1:" + std::to_string(b_port_)))
      << d->ReadLog();
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &fd), 0) << d->ReadLog();
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  ASSERT_EQ(EchoOnce(fd, 1, buf), 0);
  ASSERT_TRUE(d->Reload(to_b, none)) << d->ReadLog();
  EXPECT_TRUE(d->WaitLog("removed=127.0.0.1:" + std::to_string(b_port_))) << d->ReadLog();
  ASSERT_EQ(EchoOnce(fd, 2, buf), 0);
  syslink_close(fd);
  syslink_dma_free(buf);
  d.reset();
}

// The failure-detection timers change on SIGHUP: with a long dead interval
// a hung (SIGSTOPped) B stays up for A; shortened again, A declares it dead
// at once; B resumed, traffic crosses it again.
TEST_F(MeshLoopback, TimersChangeOnSighup) {
  StartLine();
  Channel ready;
  auto svc = StartEcho(*c_, &ready);
  ASSERT_NE(svc, nullptr);
  Use(*a_);
  int fd;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &fd), 0) << a_->ReadLog();
  syslink_close(fd);
  ASSERT_TRUE(a_->Reload("dead_interval_ms: 400", "dead_interval_ms: 30000")) << a_->ReadLog();
  EXPECT_EQ(a_->ReadLog().find("wait for a restart"), std::string::npos) << a_->ReadLog();
  ASSERT_EQ(kill(b_->pid(), SIGSTOP), 0);
  // Three of the old dead intervals: the link stays.
  EXPECT_FALSE(a_->WaitLog("reason=dead", std::chrono::milliseconds(1200))) << a_->ReadLog();
  ASSERT_TRUE(a_->Reload("dead_interval_ms: 30000", "dead_interval_ms: 400")) << a_->ReadLog();
  EXPECT_TRUE(a_->WaitLog("reason=dead", std::chrono::seconds(5))) << a_->ReadLog();
  ASSERT_EQ(kill(b_->pid(), SIGCONT), 0);
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(20), &fd), 0) << a_->ReadLog();
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  EXPECT_EQ(EchoOnce(fd, 1, buf), 0);
  syslink_close(fd);
  syslink_dma_free(buf);
}

// Strangers whose Hello does not parse (a node name that is not UTF-8) are
// refused, and what libprotobuf says about each is a log event in meshd's
// format under the same rate limit as meshd's own lines, not a raw line
// per connection.
TEST_F(MeshLoopback, StrangersBadHellosAreRefusedAndLoggedWithinLimits) {
  b_ = std::make_unique<Meshd>(dir_.path(), "b", MeshConf("127.0.0.1:0", {}));
  ASSERT_TRUE(b_->Start()) << b_->ReadLog();
  // A HELLO frame: u32 length (LE), type 1, then Hello{node_name: ff fe}.
  const std::string hello("\x1a\x02\xff\xfe", 4);
  std::string frame(4, '\0');
  frame[0] = static_cast<char>(hello.size());
  frame += '\x01';
  frame += hello;
  absl::StatusOr<double> took =
      common::Pester(static_cast<uint16_t>(b_->MeshPort()), frame, 60);
  ASSERT_TRUE(took.ok()) << took.status();
  const std::string log = b_->ReadLog();
  EXPECT_EQ(log.find("[libprotobuf"), std::string::npos) << log;
  const int lines = common::Occurrences(log, "comp=protobuf");
  EXPECT_GE(lines, 1) << log;
  EXPECT_LE(lines, common::MostLimitedLines(*took)) << *took << " s\n" << log;
  EXPECT_NE(log.find("level=warn comp=protobuf msg="), std::string::npos) << log;
  EXPECT_EQ(kill(b_->pid(), 0), 0) << "b should still be running";
}

// ---------------------------------------------------------------------------
// Network namespaces: A -veth- B -veth- C on two subnets, no IP forwarding,
// so only meshd on B joins A and C. Clients and services stay in this
// namespace and reach their meshd through its Unix socket.

class MeshNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    id_ = std::to_string(getpid() % 100000);
    for (const char* n : {"a", "b", "c"}) ns_.push_back("sl" + id_ + n);
    if (Shell("ip netns add " + ns_[0] + " 2>/dev/null") != 0) {
      ns_.clear();
      GTEST_SKIP() << "network namespaces unavailable here (ip netns add failed: needs root "
                      "and iproute2); the loopback tests cover the same ground";
    }
    ASSERT_EQ(Shell("ip netns add " + ns_[1]), 0);
    ASSERT_EQ(Shell("ip netns add " + ns_[2]), 0);
    const std::string ab = "va" + id_, ba = "vb" + id_ + "a", bc = "vb" + id_ + "c",
                      cb = "vc" + id_;
    veth_a_ = ab;
    const std::string cmds[] = {
        "ip link add " + ab + " netns " + ns_[0] + " type veth peer name " + ba + " netns " + ns_[1],
        "ip link add " + bc + " netns " + ns_[1] + " type veth peer name " + cb + " netns " + ns_[2],
        "ip -n " + ns_[0] + " addr add 10.201.1.1/24 dev " + ab,
        "ip -n " + ns_[1] + " addr add 10.201.1.2/24 dev " + ba,
        "ip -n " + ns_[1] + " addr add 10.201.2.1/24 dev " + bc,
        "ip -n " + ns_[2] + " addr add 10.201.2.2/24 dev " + cb,
    };
    for (const auto& c : cmds) ASSERT_EQ(Shell(c), 0) << c;
    for (int i = 0; i < 3; i++) {
      ASSERT_EQ(Shell("ip -n " + ns_[i] + " link set lo up"), 0);
    }
    for (const auto& l : {std::make_pair(0, ab), std::make_pair(1, ba), std::make_pair(1, bc),
                          std::make_pair(2, cb)}) {
      ASSERT_EQ(Shell("ip -n " + ns_[l.first] + " link set " + l.second + " up"), 0);
    }
    key_ = WriteClusterKey(dir_.path(), "netns-cluster-key-0123456789");
    a_ = MakeNode("a", "", "10.201.1.2:7700");
    b_ = MakeNode("b", "0.0.0.0:7700", "");
    c_ = MakeNode("c", "", "10.201.2.1:7700");
    a_->SetNetns(ns_[0]);
    b_->SetNetns(ns_[1]);
    c_->SetNetns(ns_[2]);
    ASSERT_TRUE(b_->Start()) << b_->ReadLog();
    ASSERT_TRUE(a_->Start()) << a_->ReadLog();
    ASSERT_TRUE(c_->Start()) << c_->ReadLog();
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto* m : {a_.get(), b_.get(), c_.get()}) {
        if (m != nullptr) fprintf(stderr, "---- %s ----\n%s\n", m->log_path().c_str(),
                                  m->ReadLog().c_str());
      }
    }
    a_.reset();
    b_.reset();
    c_.reset();
    for (const auto& n : ns_) Shell("ip netns del " + n + " 2>/dev/null");  // and its veths
  }
  std::unique_ptr<Meshd> MakeNode(const std::string& name, const std::string& listen,
                                  const std::string& peer) {
    std::string conf = "mesh { " + std::string(kTimers) + " cluster_key_file: \"" + key_ + "\"";
    if (!listen.empty()) conf += " listen_address: \"" + listen + "\"";
    if (!peer.empty()) conf += " peers { address: \"" + peer + "\" }";
    return std::make_unique<Meshd>(dir_.path(), name, conf + " }");
  }
  // Runs KILL (which breaks the path A-B-C) under load from 3 clients on A
  // to the service on C, checks every command got exactly one EHOSTUNREACH,
  // then HEAL and checks traffic resumes.
  void BreakUnderLoad(const std::function<void()>& kill, const std::function<void()>& heal) {
    constexpr int kHolds = 20, kClients = 3;
    Channel ready;
    Use(*c_);
    Child svc([&] { return Serve("echo", &ready, 4, nullptr); });
    int64_t v;
    ASSERT_TRUE(ready.Get(&v));
    ASSERT_EQ(v, 0);
    Use(*a_);
    int probe;
    ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(30), &probe), 0);
    syslink_close(probe);
    Channel progress, result;
    std::vector<std::unique_ptr<Child>> clients;
    for (int i = 0; i < kClients; i++) {
      clients.push_back(std::make_unique<Child>(
          [&] { return LoadClient("c", "echo", kHolds, EHOSTUNREACH, &progress, &result); }));
    }
    for (int i = 0; i < kClients; i++) ASSERT_TRUE(progress.Get(&v));
    kill();
    int64_t commands = 0, replies = 0;
    for (int i = 0; i < kClients; i++) {
      const LoadResult r = GetResult(&result);
      EXPECT_EQ(r.dups, 0);
      EXPECT_EQ(r.missing, 0);
      EXPECT_EQ(r.wrong_errno, 0);
      EXPECT_GE(r.replies, kHolds);
      commands += r.echoes + r.replies;
      replies += r.echoes + r.replies;
    }
    for (auto& c : clients) EXPECT_EQ(c->Wait(), 0);
    fprintf(stderr, "commands %lld, replies %lld (none lost, none duplicated)\n",
            static_cast<long long>(commands), static_cast<long long>(replies));
    heal();
    int fd;
    ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(30), &fd), 0);
    unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
    for (uint64_t i = 1; i <= 20; i++) ASSERT_EQ(EchoOnce(fd, i, buf), 0) << i;
    syslink_close(fd);
    syslink_dma_free(buf);
  }

  TempDir dir_;
  std::string id_, key_, veth_a_;
  std::vector<std::string> ns_;
  std::unique_ptr<Meshd> a_, b_, c_;
};

TEST_F(MeshNetns, MiddleNodeForwards) {
  Channel ready;
  Use(*c_);
  Child svc([&] { return Serve("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  // A cannot reach C's address at all: only meshd on B joins them.
  EXPECT_NE(Shell("ip netns exec " + ns_[0] + " ping -c1 -W1 10.201.2.2 >/dev/null 2>&1"), 0);
  Use(*a_);
  int fd;
  ASSERT_EQ(ConnectWithin("c", "echo", std::chrono::seconds(30), &fd), 0);
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(65536));
  for (uint64_t i = 1; i <= 50; i++) ASSERT_EQ(EchoOnce(fd, i, buf), 0) << i;
  syslink_close(fd);
  syslink_dma_free(buf);
}

TEST_F(MeshNetns, MiddleNodeKilledAndRestarted) {
  BreakUnderLoad(
      [&] {
        b_->Signal(SIGKILL);
        ASSERT_NE(b_->Wait(), -1);
      },
      [&] { ASSERT_TRUE(b_->Start()) << b_->ReadLog(); });
}

TEST_F(MeshNetns, VethTakenDownAndUp) {
  BreakUnderLoad(
      [&] { ASSERT_EQ(Shell("ip -n " + ns_[0] + " link set " + veth_a_ + " down"), 0); },
      [&] { ASSERT_EQ(Shell("ip -n " + ns_[0] + " link set " + veth_a_ + " up"), 0); });
}

}  // namespace
