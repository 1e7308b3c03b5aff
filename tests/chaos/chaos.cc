// chaos: sustained request/reply load across a three-node mesh while a
// driver SIGKILLs and restarts meshd instances, services and clients,
// region owners and the processes that read and write their regions, and
// reloads the meshds' configs (SIGHUP: busy polling off and on, the log
// level, the mesh's timers, and one of b's peers dropped and added back). Every process that
// sends commands checks that each one got exactly one reply (real or
// synthesized) before its session ended, and reports what it counted; the
// driver adds it all up.
//
//   bazel run //tests/chaos -- --seconds=300            # a long run
//   bazel test //tests/chaos:chaos_test                 # 40 s, part of the suite
//
// Exits 0 only if no reply was lost or duplicated, no region read returned
// bytes that were not the owner's, no region operation failed but for a
// failure that explains it, every reload succeeded, and meshd a's memory
// stayed bounded. Commands in flight in a process at the moment it was
// killed cannot be accounted by it (it is gone) and are left out; replies
// owed to a killed process are what its peers count (their commands to it
// must each get one ECONNRESET).
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "syslink/syslink.h"
#include "tests/harness.h"

ABSL_FLAG(int, seconds, 60, "how long the chaos goes on");
ABSL_FLAG(int, clients, 6, "client processes");
ABSL_FLAG(int, region_users, 2, "processes reading and writing the owners' regions");
ABSL_FLAG(int, window, 8, "commands each client keeps outstanding");
ABSL_FLAG(int, kill_ms, 700, "time between kills");
ABSL_FLAG(int64_t, min_commands, 0, "fail unless at least this many commands were counted");
ABSL_FLAG(uint32_t, seed, 1, "random seed for the kill schedule");
ABSL_FLAG(int32_t, busy_poll_us, 200,
          "every meshd's mesh.busy_poll_us (200: meshd's default; 0: off); reloads turn it to 0 "
          "and back");
ABSL_FLAG(int, reload_ms, 1300, "time between config reloads (SIGHUP; 0: none)");

namespace {

using testing_harness::Child;
using testing_harness::Meshd;
using testing_harness::TempDir;
using testing_harness::WriteClusterKey;

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(700);
constexpr sl_cmd_t kEcho = 1, kPing = 2;

union Msg {
  struct syslink_msg msg;
  unsigned char buf[SL_MAXSIZE];
};

size_t Len(const Msg& m) { return SL_MSG_ALIGN(m.msg.sm_bytes); }

// What each process reports, cumulative: one write of the whole struct
// (atomic: well under PIPE_BUF), tagged with who it is.
struct Report {
  int32_t who;  // process slot
  int32_t incarnation;
  int64_t sent = 0;       // commands sent
  int64_t real = 0;       // real replies
  int64_t synth = 0;      // synthesized replies (errno in se_aux)
  int64_t dup = 0;        // replies to nothing outstanding
  int64_t lost = 0;       // commands without a reply when their session ended
  int64_t sessions = 0;   // sessions that ended (checked)
  int64_t answered = 0;   // commands from the peer this process answered
  int64_t corrupt = 0;    // DMA data that arrived wrong (either direction)
  // Region operations (owners and region clients).
  int64_t region_ops = 0;       // reads and writes that succeeded
  int64_t region_refused = 0;   // failed with an errno a failure explains
  int64_t region_bad = 0;       // failed with any other errno
  int64_t region_corrupt = 0;   // read data that was not the owner's
};

void Put(int fd, const Report& r) { (void)!write(fd, &r, sizeof r); }

// Tracks one session's outstanding commands.
struct Ledger {
  std::map<uint64_t, int> outstanding;  // msgid -> 1
  void Sent(uint64_t id, Report* r) {
    outstanding[id] = 1;
    r->sent++;
  }
  // Returns false for a duplicate.
  bool Replied(const Msg& m, Report* r) {
    auto it = outstanding.find(m.msg.sm_msgid);
    if (it == outstanding.end()) {
      r->dup++;
      return false;
    }
    outstanding.erase(it);
    const int err = m.msg.sm_head.se_aux;
    if (err == EBADMSG) r->corrupt++;  // the service saw bad DMA data
    (err == 0 || err == EBADMSG ? r->real : r->synth)++;
    return true;
  }
  void Ended(Report* r) {
    r->lost += static_cast<int64_t>(outstanding.size());
    outstanding.clear();
    r->sessions++;
  }
};

// A command's DMA length: 4 KiB, 32 KiB or 128 KiB by its msgid (bulk
// sizes take the relay's zero-copy paths and shared rings, small ones not).
constexpr size_t kDmaMax = SL_DMA_MAX;
size_t DmaLen(uint64_t msgid) {
  switch (msgid / 4 % 3) {
    case 0: return 4096;
    case 1: return 32 * 1024;
    default: return kDmaMax;
  }
}

// DMA contents that name the command they belong to.
void Stamp(unsigned char* p, uint64_t msgid) {
  const size_t n = DmaLen(msgid);
  memset(p, static_cast<int>(msgid & 0xff), n);
  memcpy(p, &msgid, 8);
  const uint64_t inv = ~msgid;
  memcpy(p + n - 8, &inv, 8);
}
bool Stamped(const unsigned char* p, size_t n, uint64_t msgid) {
  static thread_local unsigned char want[kDmaMax];
  Stamp(want, msgid);
  return n == DmaLen(msgid) && memcmp(p, want, n) == 0;
}

// Says what arrived instead (the first few times per process).
void Complain(const char* who, const char* what, const unsigned char* p, size_t n,
              uint64_t msgid, uint64_t sessid) {
  static int told = 0;
  if (told++ >= 5) return;
  const size_t len = DmaLen(msgid);
  uint64_t head, tail;
  memcpy(&head, p, 8);
  memcpy(&tail, p + len - 8, 8);
  size_t first_bad = 0;
  static thread_local unsigned char want[kDmaMax];
  Stamp(want, msgid);
  while (first_bad < len && p[first_bad] == want[first_bad]) first_bad++;
  fprintf(stderr,
          "chaos: pid %d %s: %s data wrong: msgid %llx sessid %llx: %zu bytes, head %llx tail "
          "%llx, first wrong byte %zu\n",
          getpid(), who, what, static_cast<unsigned long long>(msgid),
          static_cast<unsigned long long>(sessid), n, static_cast<unsigned long long>(head),
          static_cast<unsigned long long>(~tail), first_bad);
}

// A client: connects to SERVICE on NODE (through its own meshd), keeps
// WINDOW commands outstanding (one in four carries 4, 32 or 128 KiB to the
// service (DMAW), one in four asks for as much back (DMAR); each has its own
// buffer,
// half of them from syslink_dma_alloc), answers the service's pings; when
// the session ends, checks its ledger and reconnects.
int Client(int who, int incarnation, const std::string& node, int window, int report_fd) {
  Report r;
  r.who = who;
  r.incarnation = incarnation;
  std::vector<unsigned char*> spare;  // DMA buffers not lent to a command
  for (int i = 0; i < window; i++) {
    void* p = i % 2 ? syslink_dma_alloc(kDmaMax) : aligned_alloc(4096, kDmaMax);
    if (p == nullptr) return 3;
    spare.push_back(static_cast<unsigned char*>(p));
  }
  uint64_t next = static_cast<uint64_t>(incarnation) << 40;
  auto last_report = std::chrono::steady_clock::now();
  for (;;) {
    struct syslink_info_connect info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    snprintf(info.node, sizeof info.node, "%s", node.c_str());
    strcpy(info.service, "svc");
    info.timeout_ms = 2000;
    if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) != 0) {
      // meshd restarting, routes converging, service restarting.
      struct pollfd none = {-1, 0, 0};
      poll(&none, 1, 20);
      continue;
    }
    const int fd = info.fd;
    Ledger ledger;
    std::map<uint64_t, std::pair<unsigned char*, bool>> lent;  // msgid -> (buffer, DMAR)
    // A reply: account it, check DMAR data, take the buffer back.
    auto replied = [&](const Msg& m) {
      if (!ledger.Replied(m, &r)) return;
      auto it = lent.find(m.msg.sm_msgid);
      if (it == lent.end()) return;
      const auto [buf, dmar] = it->second;
      if (dmar && m.msg.sm_head.se_aux == 0 &&
          !Stamped(buf, syslink_dma_bytes(), m.msg.sm_msgid)) {
        r.corrupt++;
        Complain("client", "DMAR", buf, syslink_dma_bytes(), m.msg.sm_msgid, m.msg.sm_sessid);
      }
      spare.push_back(buf);
      lent.erase(it);
    };
    bool open = true;
    while (open) {
      while (open && static_cast<int>(ledger.outstanding.size()) < window) {
        Msg c;
        memset(&c, 0, 64);
        const uint64_t id = ++next;
        const sl_cmd_t flags = id % 4 == 0 ? SE_CMDF_DMAW : id % 4 == 2 ? SE_CMDF_DMAR : 0;
        sl_msg_init_cmd(&c.msg, kProto, kEcho | flags);
        c.msg.sm_msgid = id;
        sl_msg_fini(&c.msg);
        unsigned char* buf = flags ? spare.back() : nullptr;
        if (flags == SE_CMDF_DMAW) Stamp(buf, id);
        if (flags == SE_CMDF_DMAR) memset(buf, 0, DmaLen(id));
        struct iovec iov[2] = {{&c, Len(c)}, {buf, DmaLen(id)}};
        if (syslink_writev(fd, iov, flags ? 2 : 1) < 0) {
          open = false;  // the session is ending: read what is owed
          break;
        }
        ledger.Sent(id, &r);
        if (flags) {
          spare.pop_back();
          lent[id] = {buf, flags == SE_CMDF_DMAR};
        }
      }
      Msg m;
      const ssize_t n = syslink_read(fd, &m, sizeof m);
      if (n <= 0) break;  // end-of-file: every reply has come
      if (m.msg.sm_proto & SM_PROTO_REPLY) {
        replied(m);
      } else {  // a ping from the service
        Msg rep;
        sl_msg_init_reply(&m.msg, &rep.msg, 0);
        sl_msg_fini(&rep.msg);
        if (syslink_write(fd, &rep, Len(rep)) >= 0) r.answered++;
      }
      if (std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(100)) {
        Put(report_fd, r);
        last_report = std::chrono::steady_clock::now();
      }
    }
    if (!open) {  // write failed: drain the synthesized replies
      for (;;) {
        Msg m;
        const ssize_t n = syslink_read(fd, &m, sizeof m);
        if (n <= 0) break;
        if (m.msg.sm_proto & SM_PROTO_REPLY) replied(m);
      }
    }
    ledger.Ended(&r);
    for (auto& [id, lend] : lent) spare.push_back(lend.first);  // lost: counted above
    lent.clear();
    syslink_close(fd);
    Put(report_fd, r);
  }
}

// A service: echoes, and sends PINGS commands to each new session; checks
// each session's pings when it closes.
int Service(int who, int incarnation, int pings, int report_fd) {
  Report r;
  r.who = who;
  r.incarnation = incarnation;
  struct syslink_info_listen info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  strcpy(info.service, "svc");
  while (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) {
    struct pollfd none = {-1, 0, 0};
    poll(&none, 1, 20);  // meshd restarting, or our old registration lingers
  }
  const int fd = info.fd;
  static unsigned char dma[SL_DMA_MAX] __attribute__((aligned(4096)));
  std::map<uint64_t, Ledger> ledgers;  // sessid -> pings outstanding
  uint64_t next = static_cast<uint64_t>(incarnation) << 40;
  auto last_report = std::chrono::steady_clock::now();
  for (;;) {
    Msg m;
    struct iovec iov[2] = {{&m, sizeof m}, {dma, sizeof dma}};
    if (syslink_readv(fd, iov, 2) <= 0) return 2;
    if (m.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
      const uint64_t s = m.msg.sm_sessid;
      if ((m.msg.sm_head.se_cmd & SE_CMD_MASK) == SL_NOTICE_SESSION_OPEN) {
        for (int i = 0; i < pings; i++) {
          Msg p;
          memset(&p, 0, 64);
          sl_msg_init_cmd(&p.msg, kProto, kPing);
          p.msg.sm_msgid = ++next;
          p.msg.sm_sessid = s;
          sl_msg_fini(&p.msg);
          if (syslink_write(fd, &p, Len(p)) >= 0) ledgers[s].Sent(p.msg.sm_msgid, &r);
        }
      } else {
        ledgers[s].Ended(&r);
        ledgers.erase(s);
        Put(report_fd, r);
      }
      continue;
    }
    if (m.msg.sm_proto & SM_PROTO_REPLY) {
      ledgers[m.msg.sm_sessid].Replied(m, &r);
      continue;
    }
    // A client's command: check DMAW data, fill DMAR data, echo.
    const sl_cmd_t cmd = m.msg.sm_head.se_cmd;
    int err = 0;
    if ((cmd & SE_CMDF_DMAW) && !Stamped(dma, syslink_dma_bytes(), m.msg.sm_msgid)) {
      err = EBADMSG;
      r.corrupt++;
      Complain("service", "DMAW", dma, syslink_dma_bytes(), m.msg.sm_msgid, m.msg.sm_sessid);
    }
    if (cmd & SE_CMDF_DMAR) Stamp(dma, m.msg.sm_msgid);
    Msg rep;
    sl_msg_init_reply(&m.msg, &rep.msg, err);
    sl_msg_fini(&rep.msg);
    struct iovec out[2] = {{&rep, Len(rep)}, {dma, DmaLen(m.msg.sm_msgid)}};
    if (syslink_writev(fd, out, cmd & SE_CMDF_DMAR ? 2 : 1) >= 0) r.answered++;
    if (std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(100)) {
      Put(report_fd, r);
      last_report = std::chrono::steady_clock::now();
    }
  }
}

// Regions. An owner (on b or c) registers a region whose every byte
// follows from the registration's secret, publishes the key in a shared
// page, and re-registers when its meshd restarted (the library notices).
// Region clients (on a) read and write it: a write puts back the bytes that
// are already there, so every successful read must see exactly the owner's
// bytes, whatever else happens.
constexpr size_t kRegionBytes = 256 * 1024;
constexpr size_t kRegionOp = 16 * 1024;

unsigned char RegionByte(uint64_t secret, size_t i) {
  return static_cast<unsigned char>((secret >> ((i % 8) * 8)) + i / 8);
}

// The published key: a seqlock (odd while being written) in a page shared
// by every process of the run.
struct SharedKey {
  std::atomic<uint64_t> seq;
  uint64_t words[3];
};
SharedKey* shared_keys = nullptr;  // one per owner slot, mapped before any fork

void Publish(SharedKey* k, const struct syslink_region_key& key) {
  uint64_t w[3];
  memcpy(w, &key, sizeof key);
  k->seq.fetch_add(1);
  for (int i = 0; i < 3; i++) __atomic_store_n(&k->words[i], w[i], __ATOMIC_RELAXED);
  k->seq.fetch_add(1);
}

bool Current(SharedKey* k, struct syslink_region_key* key) {
  for (;;) {
    const uint64_t a = k->seq.load();
    if (a == 0) return false;
    uint64_t w[3];
    for (int i = 0; i < 3; i++) w[i] = __atomic_load_n(&k->words[i], __ATOMIC_RELAXED);
    if (a % 2 == 0 && k->seq.load() == a) {
      memcpy(key, w, sizeof *key);
      return true;
    }
  }
}

int RegionOwner(int who, int incarnation, SharedKey* published, int report_fd) {
  Report r;
  r.who = who;
  r.incarnation = incarnation;
  auto* mem = static_cast<unsigned char*>(syslink_dma_alloc(kRegionBytes));
  if (mem == nullptr) return 3;
  struct syslink_region_key key = {};
  for (;;) {
    struct syslink_region_key now;
    // A hit while the registration lives; a new one after a meshd restart.
    if (syslink_region_register(mem, kRegionBytes, SL_REGION_READ | SL_REGION_WRITE, &now) ==
        0) {
      if (memcmp(&now, &key, sizeof key) != 0) {
        // Its bytes first, then the key: a peer that has the key finds them.
        for (size_t i = 0; i < kRegionBytes; i++) mem[i] = RegionByte(now.secret, i);
        if (key.slot != 0) syslink_region_deregister(&key);  // (gone with meshd anyway)
        key = now;
        Publish(published, key);
      } else {
        syslink_region_deregister(&now);  // the extra reference the check took
      }
    }
    struct pollfd none = {-1, 0, 0};
    poll(&none, 1, 20);
    Put(report_fd, r);
  }
}

int RegionUser(int who, int incarnation, SharedKey* keys, int nkeys, int report_fd) {
  Report r;
  r.who = who;
  r.incarnation = incarnation;
  auto* buf = static_cast<unsigned char*>(syslink_dma_alloc(kRegionOp));
  unsigned char plain[kRegionOp];
  std::mt19937 rng(static_cast<uint32_t>(who * 1000 + incarnation));
  auto last_report = std::chrono::steady_clock::now();
  for (uint64_t n = 0;; n++) {
    struct syslink_region_key key;
    if (!Current(&keys[n % static_cast<uint64_t>(nkeys)], &key)) {
      struct pollfd none = {-1, 0, 0};
      poll(&none, 1, 20);
      continue;
    }
    const size_t off = (rng() % (kRegionBytes / kRegionOp)) * kRegionOp + rng() % 64;
    const size_t len = std::min(kRegionOp, kRegionBytes - off);
    unsigned char* p = n % 2 ? buf : plain;  // shared and plain buffers alike
    const bool write = n % 3 == 0;
    if (write) {
      for (size_t i = 0; i < len; i++) p[i] = RegionByte(key.secret, off + i);
    }
    const ssize_t got = write ? syslink_region_write(&key, off, p, len)
                              : syslink_region_read(&key, off, p, len);
    if (got == static_cast<ssize_t>(len)) {
      r.region_ops++;
      if (!write) {
        for (size_t i = 0; i < len; i++) {
          if (p[i] != RegionByte(key.secret, off + i)) {
            r.region_corrupt++;
            break;
          }
        }
      }
    } else {
      switch (errno) {
        case ENOENT:        // the owner died or re-registered, or its meshd restarted
        case EHOSTUNREACH:  // its node is down or unreachable
        case ECONNABORTED:  // our meshd died during the operation
        case ECONNREFUSED:  // our meshd is restarting
        case EAGAIN:        // a meshd on the way is at a limit
        case ETIMEDOUT:     // CONNECT to the node timed out while it came back
          r.region_refused++;
          break;
        default:
          r.region_bad++;
          if (r.region_bad < 5) {
            fprintf(stderr, "chaos: region %s of %zu at %zu: %s\n", write ? "write" : "read",
                    len, off, strerror(errno));
          }
      }
    }
    if (std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(100)) {
      Put(report_fd, r);
      last_report = std::chrono::steady_clock::now();
    }
  }
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Config text: the mesh's timers (a reload swaps them: every node's dead
// interval stays above every heartbeat interval); a peer on loopback PORT;
// busy polling up to US.
constexpr char kTimersA[] =
    "heartbeat_interval_ms: 50 dead_interval_ms: 400 "
    "reconnect_backoff_min_ms: 50 reconnect_backoff_max_ms: 300";
constexpr char kTimersB[] =
    "heartbeat_interval_ms: 40 dead_interval_ms: 600 "
    "reconnect_backoff_min_ms: 20 reconnect_backoff_max_ms: 500";
std::string PeerText(int port) {
  return "peers { address: \"127.0.0.1:" + std::to_string(port) + "\" }";
}
std::string PollText(int us) { return "busy_poll_us: " + std::to_string(us); }

long RssKb(pid_t pid) {
  FILE* f = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  }
  fclose(f);
  return kb;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int nclients = absl::GetFlag(FLAGS_clients);
  const int window = absl::GetFlag(FLAGS_window);
  std::mt19937 rng(absl::GetFlag(FLAGS_seed));

  TempDir dir;
  const std::string key = WriteClusterKey(dir.path(), "chaos-cluster-key-0123456789abcdef");
  const std::vector<std::string> names = {"a", "b", "c"};
  std::vector<int> ports;
  for (size_t i = 0; i < names.size(); i++) ports.push_back(FreePort());
  std::vector<std::unique_ptr<Meshd>> nodes;
  for (size_t i = 0; i < names.size(); i++) {
    std::string mesh = "mesh { " + std::string(kTimersA) + " "
                       "cluster_key_file: \"" + key + "\" listen_address: \"127.0.0.1:" +
                       std::to_string(ports[i]) + "\"";
    for (size_t j = 0; j < i; j++) {  // a full triangle: each dials the ones before it
      mesh += " " + PeerText(ports[j]);
    }
    mesh += " " + PollText(absl::GetFlag(FLAGS_busy_poll_us));
    nodes.push_back(std::make_unique<Meshd>(dir.path(), names[i], mesh + " }"));
    if (!nodes.back()->Start()) {
      fprintf(stderr, "chaos: meshd %s did not start:\n%s\n", names[i].c_str(),
              nodes.back()->ReadLog().c_str());
      return 1;
    }
  }

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return 1;
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  // Process slots: services on b and c; clients on every node, each using
  // a service on another node (so every session crosses the mesh).
  struct Slot {
    enum Kind { kService, kClient, kOwner, kRegionUser } kind;
    int node;          // whose meshd it talks to
    std::string peer;  // clients: the service's node
    int incarnation = 0;
    std::unique_ptr<Child> child;
  };
  std::vector<Slot> slots;
  slots.push_back({Slot::kService, 1, "", 0, nullptr});
  slots.push_back({Slot::kService, 2, "", 0, nullptr});
  for (int i = 0; i < nclients; i++) {
    const int node = i % 3;
    const std::string peer = node == 1 ? "c" : node == 2 ? "b" : (i % 2 ? "b" : "c");
    slots.push_back({Slot::kClient, node, peer, 0, nullptr});
  }
  // Region owners on b and c, their users on a (every operation crosses
  // the mesh) and on b (c's region across one hop, b's own locally).
  constexpr int kOwners = 2;
  void* page = mmap(nullptr, sizeof(SharedKey) * kOwners, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 1;
  shared_keys = new (page) SharedKey[kOwners]();
  const size_t first_owner = slots.size();
  slots.push_back({Slot::kOwner, 1, "", 0, nullptr});
  slots.push_back({Slot::kOwner, 2, "", 0, nullptr});
  for (int i = 0; i < absl::GetFlag(FLAGS_region_users); i++) {
    slots.push_back({Slot::kRegionUser, i % 2 == 0 ? 0 : 1, "", 0, nullptr});
  }
  auto start = [&](size_t i) {
    Slot& s = slots[i];
    s.incarnation++;
    setenv("SYSLINK_MESHD", nodes[static_cast<size_t>(s.node)]->client_socket().c_str(), 1);
    const int who = static_cast<int>(i), inc = s.incarnation, out = pipefd[1];
    if (s.kind == Slot::kService) {
      s.child = std::make_unique<Child>([=] { return Service(who, inc, 3, out); });
    } else if (s.kind == Slot::kOwner) {
      SharedKey* k = &shared_keys[i - first_owner];
      s.child = std::make_unique<Child>([=] { return RegionOwner(who, inc, k, out); });
    } else if (s.kind == Slot::kRegionUser) {
      s.child = std::make_unique<Child>([=] { return RegionUser(who, inc, shared_keys, kOwners, out); });
    } else {
      const std::string peer = s.peer;
      s.child = std::make_unique<Child>([=] { return Client(who, inc, peer, window, out); });
    }
  };
  for (size_t i = 0; i < slots.size(); i++) start(i);

  std::map<std::pair<int, int>, Report> latest;  // (slot, incarnation) -> last report
  auto drain_reports = [&] {
    Report r;
    while (read(pipefd[0], &r, sizeof r) == sizeof r) latest[{r.who, r.incarnation}] = r;
  };

  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::seconds(seconds);
  long rss_before = -1;
  int kills_meshd = 0, kills_service = 0, kills_client = 0, kills_owner = 0, kills_user = 0;
  int reloads = 0;
  auto next_kill = t0 + std::chrono::milliseconds(1500);  // let the mesh settle first
  const int reload_ms = absl::GetFlag(FLAGS_reload_ms);
  auto next_reload = t0 + std::chrono::milliseconds(reload_ms > 0 ? 2000 : seconds * 1000 + 1);
  // Each node's next change, in turn: polling off and on, the log level,
  // the mesh's timers, and (b only) the peer a dropped and restored. A
  // meshd killed meanwhile restarts on the file as it is.
  std::vector<int> turn(names.size(), 0);
  std::vector<bool> poll_off(names.size(), false), quiet(names.size(), false),
      timers_b(names.size(), false);
  bool b_dropped_a = false;
  const int poll_us = absl::GetFlag(FLAGS_busy_poll_us);
  while (std::chrono::steady_clock::now() < end) {
    struct pollfd pfd = {pipefd[0], POLLIN, 0};
    poll(&pfd, 1, 50);
    drain_reports();
    const auto now = std::chrono::steady_clock::now();
    if (rss_before < 0 && now - t0 > std::chrono::seconds(3)) rss_before = RssKb(nodes[0]->pid());
    if (now >= next_reload) {
      next_reload = now + std::chrono::milliseconds(reload_ms);
      const size_t n = rng() % names.size();
      const int what = turn[n]++ % (n == 1 ? 4 : 3);
      bool ok;
      if (what == 0) {
        ok = nodes[n]->Reload(PollText(poll_off[n] ? 0 : poll_us),
                              PollText(poll_off[n] ? poll_us : 0));
        poll_off[n] = !poll_off[n];
      } else if (what == 1) {
        ok = nodes[n]->Reload(quiet[n] ? "level: INFO" : "level: DEBUG",
                              quiet[n] ? "level: DEBUG" : "level: INFO");
        quiet[n] = !quiet[n];
      } else if (what == 2) {
        ok = nodes[n]->Reload(timers_b[n] ? kTimersB : kTimersA, timers_b[n] ? kTimersA : kTimersB);
        timers_b[n] = !timers_b[n];
      } else {
        // (The config is one line: the comment ends where the peer was.)
        const std::string peer = PeerText(ports[0]), dropped = "\n# peer a dropped\n";
        ok = nodes[n]->Reload(b_dropped_a ? dropped : peer, b_dropped_a ? peer : dropped);
        b_dropped_a = !b_dropped_a;
      }
      if (!ok) {
        fprintf(stderr, "chaos: reload of meshd %s failed:\n%s\n", names[n].c_str(),
                nodes[n]->ReadLog().c_str());
        return 1;
      }
      reloads++;
    }
    if (now < next_kill) continue;
    next_kill = now + std::chrono::milliseconds(absl::GetFlag(FLAGS_kill_ms));
    const int dice = static_cast<int>(rng() % 10);
    if (dice < 4) {
      // A meshd (b or c: a stays up for the memory check), back at once.
      const size_t n = 1 + rng() % 2;
      nodes[n]->Signal(SIGKILL);
      nodes[n]->Wait();
      if (!nodes[n]->Start()) {
        fprintf(stderr, "chaos: meshd %s did not restart:\n%s\n", names[n].c_str(),
                nodes[n]->ReadLog().c_str());
        return 1;
      }
      kills_meshd++;
    } else {
      // A service or region owner (dice 4-6), or a client or region user
      // (7-9), restarted at once.
      const bool service = dice < 7;
      std::vector<size_t> pick;
      for (size_t i = 0; i < slots.size(); i++) {
        const bool serves = slots[i].kind == Slot::kService || slots[i].kind == Slot::kOwner;
        if (serves == service) pick.push_back(i);
      }
      const size_t i = pick[rng() % pick.size()];
      slots[i].child->Kill(SIGKILL);
      slots[i].child->Wait();
      start(i);
      (slots[i].kind == Slot::kOwner ? kills_owner
       : slots[i].kind == Slot::kRegionUser ? kills_user
       : service ? kills_service : kills_client)++;
    }
  }
  // Stop the load: clients first (their sessions end cleanly; services
  // count their pings), then give the last reports time to arrive.
  for (auto& s : slots) {
    if (s.kind == Slot::kClient || s.kind == Slot::kRegionUser) s.child->Kill(SIGTERM);
  }
  for (auto& s : slots) {
    if (s.kind == Slot::kClient || s.kind == Slot::kRegionUser) s.child->Wait();
  }
  const long rss_after = RssKb(nodes[0]->pid());
  const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < settle) {
    struct pollfd pfd = {pipefd[0], POLLIN, 0};
    poll(&pfd, 1, 50);
    drain_reports();
  }
  for (auto& s : slots) s.child.reset();
  drain_reports();

  Report total;
  for (const auto& [key, r] : latest) {
    total.sent += r.sent;
    total.real += r.real;
    total.synth += r.synth;
    total.dup += r.dup;
    total.lost += r.lost;
    total.sessions += r.sessions;
    total.answered += r.answered;
    total.corrupt += r.corrupt;
    total.region_ops += r.region_ops;
    total.region_refused += r.region_refused;
    total.region_bad += r.region_bad;
    total.region_corrupt += r.region_corrupt;
  }
  const bool memory_ok = rss_before > 0 && rss_after > 0 && rss_after < rss_before * 2 + 16384;
  printf("chaos: %d s, %d meshd kills, %d service kills, %d client kills, %d region owner kills, "
         "%d region user kills, %d reloads\n",
         seconds, kills_meshd, kills_service, kills_client, kills_owner, kills_user, reloads);
  printf("chaos: %lld commands sent, %lld real replies, %lld synthesized replies, %lld sessions "
         "checked\n",
         static_cast<long long>(total.sent), static_cast<long long>(total.real),
         static_cast<long long>(total.synth), static_cast<long long>(total.sessions));
  printf("chaos: lost %lld, duplicated %lld, DMA data wrong %lld (in flight in killed "
         "processes: not counted)\n",
         static_cast<long long>(total.lost), static_cast<long long>(total.dup),
         static_cast<long long>(total.corrupt));
  printf("chaos: region operations: %lld done, %lld refused for a failure, %lld failed "
         "otherwise, %lld read wrong data\n",
         static_cast<long long>(total.region_ops), static_cast<long long>(total.region_refused),
         static_cast<long long>(total.region_bad), static_cast<long long>(total.region_corrupt));
  printf("chaos: meshd a RSS %ld kB -> %ld kB (%s)\n", rss_before, rss_after,
         memory_ok ? "bounded" : "GREW");
  const bool regions_ok = total.region_bad == 0 && total.region_corrupt == 0 &&
                          (absl::GetFlag(FLAGS_region_users) == 0 || total.region_ops > 0);
  const bool ok = total.lost == 0 && total.dup == 0 && total.corrupt == 0 && memory_ok &&
                  regions_ok && total.sent >= absl::GetFlag(FLAGS_min_commands);
  printf("chaos: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
