// meshd on one node, for real: a meshd process, a service process, client
// processes; SIGKILL each of them mid-traffic, restart meshd, and check what
// every side sees (SPEC §4, issue "meshd on one node").
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "syslink/syslink.h"
#include "tests/harness.h"

namespace {

using testing_harness::Channel;
using testing_harness::Child;
using testing_harness::Meshd;
using testing_harness::Runfile;
using testing_harness::Shell;
using testing_harness::TempDir;

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(300);
constexpr sl_cmd_t kEcho = 1;  // reply; with DMAW|DMAR, the data +1 per byte
constexpr sl_cmd_t kHold = 2;  // read and never answer
constexpr sl_cmd_t kPing = 3;  // a command the service sends to its clients

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

int Listen(const char* service, int* fd) {
  struct syslink_info_listen info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  snprintf(info.service, sizeof info.service, "%s", service);
  if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) return errno;
  *fd = info.fd;
  return 0;
}

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

// CONNECT, retrying ECONNREFUSED until DEADLINE (a service re-registering
// after a meshd restart does so asynchronously).
int ConnectRetry(const char* service, int* fd, std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    const int err = Connect("", service, 2000, fd);
    if (err != ECONNREFUSED || std::chrono::steady_clock::now() > deadline) return err;
    std::this_thread::yield();
  }
}

bool IsNotice(const Msg& m, sl_cmd_t what) {
  return m.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY) &&
         (m.msg.sm_head.se_cmd & SE_CMD_MASK) == what;
}

// The service: answers kEcho (echoing DMA data +1), holds kHold. With PINGS
// > 0 it sends that many kPing commands to every new session (which the
// clients hold) and reports to REPORT, for each closed session, the number
// of kPing replies it got, each reply's errno, and the close reason.
int ServeEcho(const char* name, Channel* ready, int pings, Channel* report) {
  int fd;
  const int err = Listen(name, &fd);
  ready->Put(err);
  if (err != 0) return 1;
  static unsigned char data[SL_DMA_MAX] __attribute__((aligned(4096)));
  uint64_t next_id = 1;
  std::map<uint64_t, int> ping_replies;
  for (;;) {
    Msg m;
    struct iovec iov[2] = {{&m, sizeof m}, {data, sizeof data}};
    const ssize_t n = syslink_readv(fd, iov, 2);
    if (n <= 0) return 2;
    if (IsNotice(m, SL_NOTICE_SESSION_OPEN)) {
      for (int i = 0; i < pings; i++) {
        Msg p = Command(next_id++, kPing, m.msg.sm_sessid);
        if (syslink_write(fd, &p, Len(p)) < 0 && errno != EPIPE) return 3;
      }
      continue;
    }
    if (IsNotice(m, SL_NOTICE_SESSION_CLOSED)) {
      if (report != nullptr) {
        report->Put(ping_replies[m.msg.sm_sessid]);
        report->Put(m.msg.sm_head.se_aux);
      }
      continue;
    }
    if (m.msg.sm_proto & SM_PROTO_REPLY) {  // a reply to one of our pings
      if (m.msg.sm_head.se_aux != ECONNRESET) return 4;
      ping_replies[m.msg.sm_sessid]++;
      continue;
    }
    const sl_cmd_t cmd = m.msg.sm_head.se_cmd & SE_CMD_MASK;
    if (cmd == kHold) continue;
    const size_t got = syslink_dma_bytes();
    for (size_t i = 0; i < got; i++) data[i]++;
    Msg r;
    sl_msg_init_reply(&m.msg, &r.msg, 0);
    sl_msg_fini(&r.msg);
    struct iovec out[2] = {{&r, Len(r)}, {data, got}};
    const bool dmar = m.msg.sm_head.se_cmd & SE_CMDF_DMAR;
    if (syslink_writev(fd, out, dmar && got > 0 ? 2 : 1) < 0 && errno != EPIPE) return 5;
  }
}

// ROUNDS echo round trips with a 64 KiB DMA buffer, data checked.
int EchoRounds(int fd, int rounds, uint64_t first_id, bool memfd) {
  constexpr size_t kLen = 65536;
  void* plain = nullptr;
  unsigned char* buf;
  if (memfd) {
    buf = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  } else {
    if (posix_memalign(&plain, 4096, kLen) != 0) return 10;
    buf = static_cast<unsigned char*>(plain);
  }
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < kLen; i++) buf[i] = static_cast<unsigned char>(i + r);
    Msg c = Command(first_id + r, kEcho | SE_CMDF_DMAW | SE_CMDF_DMAR);
    struct iovec iov[2] = {{&c, Len(c)}, {buf, kLen}};
    if (syslink_writev(fd, iov, 2) < 0) return 11;
    for (;;) {
      Msg rep;
      if (syslink_read(fd, &rep, sizeof rep) <= 0) return 12;
      if (!(rep.msg.sm_proto & SM_PROTO_REPLY)) continue;  // a ping: held
      if (rep.msg.sm_msgid != first_id + r || rep.msg.sm_head.se_aux != 0) return 13;
      if (syslink_dma_bytes() != kLen) return 14;
      break;
    }
    for (size_t i = 0; i < kLen; i++) {
      if (buf[i] != static_cast<unsigned char>(i + r + 1)) return 15;
    }
  }
  if (memfd) syslink_dma_free(buf);
  free(plain);
  return 0;
}

class MeshdLocal : public ::testing::Test {
 protected:
  void SetUp() override {
    meshd_ = std::make_unique<Meshd>(dir_.path(), "n1");
    ASSERT_TRUE(meshd_->Start()) << meshd_->ReadLog();
    setenv("SYSLINK_MESHD", meshd_->client_socket().c_str(), 1);
  }
  void TearDown() override {
    if (HasFailure()) fprintf(stderr, "---- meshd log ----\n%s\n", meshd_->ReadLog().c_str());
  }
  TempDir dir_;
  std::unique_ptr<Meshd> meshd_;
};

TEST_F(MeshdLocal, ServiceWithSeveralClients) {
  Channel ready;
  Child svc([&] { return ServeEcho("echo", &ready, 0, nullptr); });
  int64_t err;
  ASSERT_TRUE(ready.Get(&err));
  ASSERT_EQ(err, 0);
  std::vector<std::unique_ptr<Child>> clients;
  for (int i = 0; i < 4; i++) {
    clients.push_back(std::make_unique<Child>([i] {
      int fd;
      if (Connect("", "echo", 5000, &fd) != 0) return 20;
      struct syslink_stats st;
      if (syslink_get_stats(fd, &st) != 0 || st.sessid == 0) return 21;
      const int r = EchoRounds(fd, 50, 1, i % 2 == 0);
      syslink_close(fd);
      return r;
    }));
  }
  for (auto& c : clients) EXPECT_EQ(c->Wait(), 0);
}

// A listener's descriptor follows O_NONBLOCK as the caller sets it, at any
// time: EAGAIN while nothing is queued, the message when one is, and a
// blocking read again once the flag is cleared.
TEST_F(MeshdLocal, ListenerFollowsONonblock) {
  int lfd;
  ASSERT_EQ(Listen("nb", &lfd), 0);
  const int fl = fcntl(lfd, F_GETFL);
  ASSERT_GE(fl, 0);
  ASSERT_EQ(fcntl(lfd, F_SETFL, fl | O_NONBLOCK), 0);
  Msg m;
  errno = 0;
  EXPECT_EQ(syslink_read(lfd, &m, sizeof m), -1);
  EXPECT_EQ(errno, EAGAIN);

  Child client([] {
    int fd;
    if (Connect("", "nb", 5000, &fd) != 0) return 20;
    Msg c = Command(7, kEcho);
    if (syslink_write(fd, &c, Len(c)) < 0) return 21;
    Msg rep;
    if (syslink_read(fd, &rep, sizeof rep) <= 0) return 22;
    if (rep.msg.sm_msgid != 7 || !(rep.msg.sm_proto & SM_PROTO_REPLY)) return 23;
    syslink_close(fd);
    return 0;
  });
  // Non-blocking: poll for the command (the open notice comes first).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t sessid = 0;
  for (;;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no command arrived";
    const ssize_t n = syslink_read(lfd, &m, sizeof m);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN);
      std::this_thread::yield();
      continue;
    }
    if (IsNotice(m, SL_NOTICE_SESSION_OPEN)) continue;
    ASSERT_EQ(m.msg.sm_msgid, 7u);
    sessid = m.msg.sm_sessid;
    break;
  }
  Msg r;
  sl_msg_init_reply(&m.msg, &r.msg, 0);
  sl_msg_fini(&r.msg);
  ASSERT_GE(syslink_write(lfd, &r, Len(r)), 0);
  EXPECT_EQ(client.Wait(), 0);
  // Blocking again: the read waits for the close notice instead of failing.
  ASSERT_EQ(fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK), 0);
  ASSERT_GT(syslink_read(lfd, &m, sizeof m), 0);
  EXPECT_TRUE(IsNotice(m, SL_NOTICE_SESSION_CLOSED));
  EXPECT_EQ(m.msg.sm_sessid, sessid);
  syslink_close(lfd);
}

TEST_F(MeshdLocal, Errors) {
  int fd;
  EXPECT_EQ(Connect("", "nobody", 1000, &fd), ECONNREFUSED);
  EXPECT_EQ(Connect("other-node", "echo", 1000, &fd), EHOSTUNREACH);
  int lfd;
  ASSERT_EQ(Listen("taken", &lfd), 0);
  int lfd2;
  EXPECT_EQ(Listen("taken", &lfd2), EADDRINUSE);
  // A service that never reads its descriptor never takes the session.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Connect("", "taken", 300, &fd), ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  syslink_close(lfd);
  // Once it is closed the name is free again (meshd sees the close).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int again = EADDRINUSE;
  while (again == EADDRINUSE && std::chrono::steady_clock::now() < deadline) {
    again = Listen("taken", &lfd2);
    if (again == EADDRINUSE) std::this_thread::yield();
  }
  EXPECT_EQ(again, 0);
  // A process whose uid meshd does not allow: kept out by the socket's
  // mode (0660) ...
  auto as_stranger = [] {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 30;
    int fd;
    const int err = Connect("", "taken", 1000, &fd);
    return err == EACCES ? 0 : 100 + err;
  };
  Child stranger(as_stranger);
  EXPECT_EQ(stranger.Wait(), 0);
  // ... and by meshd's credential check when the socket is open to all.
  Meshd open_meshd(dir_.path(), "n2", "", "socket_mode: 0666");
  ASSERT_TRUE(open_meshd.Start()) << open_meshd.ReadLog();
  setenv("SYSLINK_MESHD", open_meshd.client_socket().c_str(), 1);
  Child stranger2(as_stranger);
  EXPECT_EQ(stranger2.Wait(), 0);
  EXPECT_NE(open_meshd.ReadLog().find("credentials refused"), std::string::npos);
  setenv("SYSLINK_MESHD", meshd_->client_socket().c_str(), 1);
}

// A client killed while the service has commands outstanding to it: each
// gets an ECONNRESET reply, then the service gets SESSION_CLOSED.
TEST_F(MeshdLocal, ClientKilledMidTraffic) {
  constexpr int kPings = 12;
  Channel ready, report;
  Child svc([&] { return ServeEcho("echo", &ready, kPings, &report); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  Channel progress;
  Child client([&] {
    int fd;
    if (Connect("", "echo", 5000, &fd) != 0) return 40;
    // Keep a command of its own outstanding too (kHold), then loop echoing.
    Msg h = Command(99999, kHold);
    if (syslink_write(fd, &h, Len(h)) < 0) return 41;
    for (int r = 0;; r++) {
      if (EchoRounds(fd, 1, 1 + r, r % 2) != 0) return 42;
      if (r == 20) progress.Put(r);
    }
  });
  ASSERT_TRUE(progress.Get(&v));  // mid-traffic
  client.Kill(SIGKILL);
  EXPECT_EQ(client.Wait(), 128 + SIGKILL);
  int64_t replies, why;
  ASSERT_TRUE(report.Get(&replies));
  ASSERT_TRUE(report.Get(&why));
  EXPECT_EQ(replies, kPings);
  EXPECT_EQ(why, ECONNRESET);
}

// A service killed while clients have commands outstanding: exactly one
// ECONNRESET reply each, then end-of-file.
TEST_F(MeshdLocal, ServiceKilledMidTraffic) {
  Channel ready;
  Child svc([&] { return ServeEcho("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  constexpr int kHeld = 40;
  Channel sent, result;
  std::vector<std::unique_ptr<Child>> clients;
  for (int c = 0; c < 3; c++) {
    clients.push_back(std::make_unique<Child>([&] {
      int fd;
      if (Connect("", "echo", 5000, &fd) != 0) return 50;
      if (EchoRounds(fd, 5, 1, false) != 0) return 51;
      for (int i = 0; i < kHeld; i++) {
        Msg h = Command(1000 + i, kHold);
        if (syslink_write(fd, &h, Len(h)) < 0) return 52;
      }
      sent.Put(1);
      std::set<uint64_t> seen;
      for (;;) {
        Msg r;
        const ssize_t n = syslink_read(fd, &r, sizeof r);
        if (n == 0) break;
        if (n < 0) return 53;
        if (r.msg.sm_head.se_aux != ECONNRESET) return 54;
        if (!seen.insert(r.msg.sm_msgid).second) return 55;  // a duplicate
      }
      result.Put(static_cast<int64_t>(seen.size()));
      return 0;
    }));
  }
  for (int c = 0; c < 3; c++) ASSERT_TRUE(sent.Get(&v));
  svc.Kill(SIGKILL);
  EXPECT_EQ(svc.Wait(), 128 + SIGKILL);
  for (int c = 0; c < 3; c++) {
    ASSERT_TRUE(result.Get(&v));
    EXPECT_EQ(v, kHeld);
  }
  for (auto& c : clients) EXPECT_EQ(c->Wait(), 0);
}

// meshd killed: local sessions keep working; a restarted meshd takes new
// sessions (the service re-registers by itself).
TEST_F(MeshdLocal, MeshdRestart) {
  Channel ready;
  Child svc([&] { return ServeEcho("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  Channel go, done;
  Child client([&] {
    int fd;
    if (Connect("", "echo", 5000, &fd) != 0) return 60;
    if (EchoRounds(fd, 10, 1, true) != 0) return 61;
    done.Put(1);
    int64_t x;
    if (!go.Get(&x)) return 62;  // meshd is dead now
    if (EchoRounds(fd, 10, 100, false) != 0) return 63;
    done.Put(2);
    return 0;
  });
  ASSERT_TRUE(done.Get(&v));
  meshd_->Signal(SIGKILL);
  ASSERT_NE(meshd_->Wait(), -1);
  go.Put(1);
  ASSERT_TRUE(done.Get(&v));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(client.Wait(), 0);
  // No meshd: new sessions are refused.
  int fd;
  EXPECT_EQ(Connect("", "echo", 1000, &fd), ECONNREFUSED);
  ASSERT_TRUE(meshd_->Start()) << meshd_->ReadLog();
  ASSERT_EQ(ConnectRetry("echo", &fd, std::chrono::seconds(15)), 0);
  EXPECT_EQ(EchoRounds(fd, 10, 1, false), 0);
  syslink_close(fd);
}

TEST_F(MeshdLocal, SigtermStopsCleanly) {
  Channel ready;
  Child svc([&] { return ServeEcho("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  meshd_->Signal(SIGTERM);
  EXPECT_TRUE(meshd_->WaitNotify("STOPPING=1"));
  const int status = meshd_->Wait();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(access(meshd_->client_socket().c_str(), F_OK), 0);  // socket removed
}

// SIGHUP applies the log settings at once; a setting that needs a restart
// is named and left alone; a file that does not parse changes nothing; and
// meshd serves throughout.
TEST_F(MeshdLocal, SighupReloadsTheLogSettings) {
  Channel ready;
  Child svc([&] { return ServeEcho("echo", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_TRUE(meshd_->Reload("log { level: DEBUG }", "log { level: DEBUG format: JSON }"));
  // The reload's own line is the first in the new format.
  EXPECT_TRUE(meshd_->WaitLog("\"msg\":\"reloaded\"")) << meshd_->ReadLog();
  ASSERT_TRUE(meshd_->Reload("log { level: DEBUG format: JSON }",
                             "log { level: DEBUG format: JSON }\n"
                             "metrics { address: \"127.0.0.1:0\" }"));
  EXPECT_TRUE(meshd_->WaitLog("\"settings\":\"metrics.address\"")) << meshd_->ReadLog();
  ASSERT_TRUE(meshd_->Reload("metrics {", "metrics { {", "STATUS=reload failed"));
  EXPECT_TRUE(meshd_->WaitLog("reload failed, nothing changed")) << meshd_->ReadLog();
  int fd = -1;
  ASSERT_EQ(ConnectRetry("echo", &fd, std::chrono::seconds(10)), 0);
  EXPECT_EQ(EchoRounds(fd, 3, 1, true), 0);
  syslink_close(fd);
}

// SIGHUP applies who may connect, the limits and the drain timeout, for
// what comes next: services and clients already there stay.
TEST(MeshdReload, SighupAppliesAdmissionAndLimits) {
  TempDir dir;
  Meshd meshd(dir.path(), "n3", "regions { max_region_bytes: 65536 }",
              "socket_mode: 0666 max_services: 1");
  ASSERT_TRUE(meshd.Start()) << meshd.ReadLog();
  setenv("SYSLINK_MESHD", meshd.client_socket().c_str(), 1);
  auto as_stranger = [] {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 30;
    int fd;
    const int err = Connect("", "a", 2000, &fd);
    if (err != 0) return 100 + err;
    return EchoRounds(fd, 2, 1, true);
  };
  Channel ready;
  Child svc([&] { return ServeEcho("a", &ready, 0, nullptr); });
  int64_t v;
  ASSERT_TRUE(ready.Get(&v));
  ASSERT_EQ(v, 0);
  int b = -1;
  EXPECT_EQ(Listen("b", &b), EAGAIN);  // max_services: 1
  Child refused(as_stranger);
  EXPECT_EQ(refused.Wait(), 100 + EACCES);
  constexpr size_t kRegion = 131072;
  void* mem = syslink_dma_alloc(kRegion);
  ASSERT_NE(mem, nullptr);
  struct syslink_region_key key;
  ASSERT_EQ(syslink_region_register(mem, kRegion, SL_REGION_READ, &key), -1);
  EXPECT_EQ(errno, EFBIG);

  ASSERT_TRUE(meshd.Reload("max_services: 1", "max_services: 2 allowed_uids: 65534"));
  ASSERT_TRUE(meshd.Reload("max_region_bytes: 65536", "max_region_bytes: 131072"));
  EXPECT_EQ(meshd.ReadLog().find("wait for a restart"), std::string::npos) << meshd.ReadLog();
  EXPECT_EQ(Listen("b", &b), 0);
  Child let_in(as_stranger);
  EXPECT_EQ(let_in.Wait(), 0);
  EXPECT_EQ(syslink_region_register(mem, kRegion, SL_REGION_READ, &key), 0) << errno;

  // Lowered again: refused from now on; what is registered stays.
  ASSERT_TRUE(meshd.Reload("max_services: 2 allowed_uids: 65534", "max_services: 1"));
  // (And the next drain's grace period, in a section of its own.)
  ASSERT_TRUE(meshd.Reload("max_region_bytes: 131072",
                           "max_region_bytes: 65536 } drain { timeout_ms: 1234"));
  int c = -1;
  EXPECT_EQ(Listen("c", &c), EAGAIN);
  Child refused_again(as_stranger);
  EXPECT_EQ(refused_again.Wait(), 100 + EACCES);
  unsigned char back[16];
  EXPECT_EQ(syslink_region_read(&key, 0, back, sizeof back), 16);
  struct syslink_region_key key2;
  // (A range not registered yet: the library keeps its registrations.)
  EXPECT_EQ(syslink_region_register(mem, kRegion - 4096, SL_REGION_READ, &key2), -1);
  EXPECT_EQ(errno, EFBIG);
  int fd = -1;
  ASSERT_EQ(Connect("", "a", 2000, &fd), 0);
  EXPECT_EQ(EchoRounds(fd, 2, 1, true), 0);
  syslink_close(fd);
  syslink_close(b);
  EXPECT_EQ(syslink_region_deregister(&key), 0);
  syslink_dma_free(mem);
  // The socket path and mode are bound at start: a change waits.
  ASSERT_TRUE(meshd.Reload("socket_mode: 0666", "socket_mode: 0660"));
  EXPECT_TRUE(meshd.WaitLog("settings=client.socket_mode")) << meshd.ReadLog();
  meshd.Signal(SIGTERM);
  EXPECT_TRUE(meshd.WaitLog("msg=draining signal=SIGTERM timeout_ms=1234")) << meshd.ReadLog();
}

// --check-config reads the cluster key files as meshd would at start or
// on SIGHUP: a key file others may read fails the check, and says how to
// fix it.
TEST(CheckConfig, ReadsTheClusterKeyFiles) {
  TempDir dir;
  const std::string key = dir.path() + "/k", conf = dir.path() + "/c.conf",
                    out = dir.path() + "/out";
  ASSERT_EQ(Shell("umask 077; echo a-cluster-key-of-some-length > " + key), 0);
  {
    std::ofstream c(conf);
    c << "mesh { listen_address: \"127.0.0.1:0\" cluster_key_file: \"" << key
      << "\" accept_cluster_key_files: \"" << key << "\" }\n";
  }
  const std::string check = Runfile("meshd/meshd") + " --config " + conf + " --check-config >" +
                            out + " 2>&1";
  EXPECT_EQ(Shell(check), 0);
  ASSERT_EQ(Shell("chmod 644 " + key), 0);
  EXPECT_EQ(Shell(check), 1);
  std::stringstream said;
  said << std::ifstream(out).rdbuf();
  EXPECT_NE(said.str().find("chmod 600 " + key), std::string::npos) << said.str();
}

}  // namespace
