// The relay between two nodes joined by an in-memory link: real Brokers,
// ClientServers and Relays on one libuv loop thread, real library calls
// from test threads. The link delivers asynchronously (never re-entrantly)
// and can be cut. Real TCP meshes are tested in tests/mesh_test.cc.
#include "meshd/relay/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "libsyslink/dma.h"
#include "meshd/client/client_server.h"
#include "meshd/uv_timer.h"
#include "syslink/syslink.h"

namespace meshd {
namespace {

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(400);
constexpr sl_cmd_t kEcho = 1, kHold = 2, kPing = 3, kCheck = 4, kFill = 5;

// kCheck's data: byte I of command MSGID.
unsigned char Pattern(size_t i, uint64_t msgid) { return static_cast<unsigned char>(i * 7 + msgid); }

// Two nodes, "A" (id 1) and "B" (id 2), one link (id 7 on both sides).
class FakeMesh {
 public:
  class Port : public MeshPort {
   public:
    Port(FakeMesh* mesh, uint64_t id, std::string name) : mesh_(mesh), id_(id), name_(name) {}
    uint64_t self_id() const override { return id_; }
    const std::string& self_name() const override { return name_; }
    std::optional<uint64_t> Resolve(std::string_view n) const override {
      if (n == "A") return 1;
      if (n == "B") return 2;
      return std::nullopt;
    }
    std::string NameOf(uint64_t node) const override { return node == 1 ? "A" : "B"; }
    uint64_t NextHop(uint64_t node) const override {
      return node != id_ && (node == 1 || node == 2) && !mesh_->cut_ ? 7 : 0;
    }
    bool SendData(uint64_t link, mesh::DataPayload payload) override {
      if (link != 7 || mesh_->cut_) return false;
      std::string bytes = std::move(payload.head);
      bytes.append(payload.mid);
      bytes += payload.tail;
      mesh_->Deliver(id_ == 1 ? 2 : 1, std::move(bytes));
      return true;
    }
    bool Congested(uint64_t) const override { return false; }
    void PauseRead(uint64_t) override {}
    void ResumeRead(uint64_t) override {}

   private:
    FakeMesh* mesh_;
    uint64_t id_;
    std::string name_;
  };

  explicit FakeMesh(uv_loop_t* loop) : loop_(loop) {
    uv_async_init(loop, &async_, OnAsync);
    async_.data = this;
  }
  void SetRelays(Relay* a, Relay* b) {
    relays_[1] = a;
    relays_[2] = b;
  }
  // Called on the loop thread only.
  void Deliver(uint64_t to, std::string payload) {
    queue_.push_back({to, std::move(payload)});
    uv_async_send(&async_);
  }
  // From any thread: cut the link; both sides see it go down.
  void Cut() {
    std::lock_guard<std::mutex> l(mu_);
    cut_requested_ = true;
    uv_async_send(&async_);
  }
  void Close() { uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr); }
  // From a test thread: runs FN on the loop thread and waits for it.
  void RunOnLoop(std::function<void()> fn) {
    std::promise<void> done;
    {
      std::lock_guard<std::mutex> l(mu_);
      tasks_.push_back([&] {
        fn();
        done.set_value();
      });
    }
    uv_async_send(&async_);
    done.get_future().wait();
  }

 private:
  static void OnAsync(uv_async_t* a) {
    auto* m = static_cast<FakeMesh*>(a->data);
    bool cut;
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> l(m->mu_);
      cut = m->cut_requested_ && !m->cut_;
      tasks.swap(m->tasks_);
    }
    for (auto& t : tasks) t();
    if (cut) {
      m->cut_ = true;
      m->queue_.clear();  // frames on the wire are lost
      m->relays_[1]->OnLinkDown(7);
      m->relays_[2]->OnLinkDown(7);
      m->relays_[1]->OnReachability(2, false);
      m->relays_[2]->OnReachability(1, false);
    }
    // Deliver what was queued before this wake-up; new frames wait a turn.
    std::deque<std::pair<uint64_t, std::string>> batch;
    batch.swap(m->queue_);
    for (auto& [to, payload] : batch) {
      if (m->cut_) continue;
      Relay* r = m->relays_[to];
      // As the mesh decoder does: a large frame is offered to the relay,
      // which may have part of it read into a ring slot (here: copied).
      mesh::PayloadSplit split;
      if (payload.size() >= mesh::kSplitMinBytes) {
        split = r->SplitMsg(7, std::string_view(payload).substr(0, 100),
                            static_cast<uint32_t>(payload.size()));
      }
      if (split.len > 0) {
        m->splits++;
        memcpy(split.where, payload.data() + split.offset, split.len);
        payload.erase(split.offset, split.len);
        r->OnSplitData(7, to == 1 ? 2 : 1, std::move(payload), std::move(split));
      } else {
        r->OnData(7, to == 1 ? 2 : 1, std::move(payload));
      }
    }
  }

  uv_loop_t* loop_;
  uv_async_t async_;
  std::mutex mu_;
  bool cut_requested_ = false;
  std::vector<std::function<void()>> tasks_;  // RunOnLoop's (under mu_)
  bool cut_ = false;
  std::deque<std::pair<uint64_t, std::string>> queue_;
  std::map<uint64_t, Relay*> relays_;

 public:
  std::atomic<int> splits{0};  // frames delivered split
};

// Timers that never fire: a relay left to do without its timers.
class NeverTimer : public Timer {
 public:
  void Start(uint64_t, std::function<void()>) override {}
  void Cancel() override {}
};

struct Node {
  // RELAY_TIMERS: the relay's (null: real ones on LOOP).
  Node(uv_loop_t* loop, const std::string& name, const std::string& socket, FakeMesh* mesh,
       uint64_t id, Relay::Options options, TimerFactory relay_timers = nullptr)
      : broker(name, Broker::Limits{}, UvTimers(loop)),
        clients(loop, ClientServer::Options{socket}, &broker),
        port(mesh, id, name),
        relay(loop, options, &port, &broker,
              relay_timers != nullptr ? std::move(relay_timers) : UvTimers(loop)) {
    broker.SetRemote(&relay);
  }
  Broker broker;
  ClientServer clients;
  FakeMesh::Port port;
  Relay relay;
};

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

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rly.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uv_loop_init(&loop_);
    mesh_ = std::make_unique<FakeMesh>(&loop_);
    a_ = std::make_unique<Node>(&loop_, "A", dir_ + "/a.sock", mesh_.get(), 1, a_options_,
                                a_relay_timers_);
    b_ = std::make_unique<Node>(&loop_, "B", dir_ + "/b.sock", mesh_.get(), 2, b_options_);
    mesh_->SetRelays(&a_->relay, &b_->relay);
    ASSERT_TRUE(a_->clients.Start().ok());
    ASSERT_TRUE(b_->clients.Start().ok());
    uv_async_init(&loop_, &stop_, [](uv_async_t* h) {
      auto* t = static_cast<RelayTest*>(h->data);
      t->a_->clients.Stop();
      t->b_->clients.Stop();
      t->a_->relay.Shutdown();
      t->b_->relay.Shutdown();
      t->mesh_->Close();
      uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
    });
    stop_.data = this;
    loop_thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  void TearDown() override {
    uv_async_send(&stop_);
    loop_thread_.join();
    // The loop has stopped: the nodes can go.
    a_.reset();
    b_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);  // run the close callbacks
    uv_loop_close(&loop_);
    std::string cmd = "rm -rf " + dir_;
    (void)!system(cmd.c_str());
  }
  void UseNode(const char* n) {
    setenv("SYSLINK_MESHD", (dir_ + (n[0] == 'A' ? "/a.sock" : "/b.sock")).c_str(), 1);
  }
  int Listen(const char* service) {
    UseNode("B");
    struct syslink_info_listen info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    snprintf(info.service, sizeof info.service, "%s", service);
    if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) return -errno;
    return info.fd;
  }
  int Connect(const char* node, const char* service, int timeout_ms = 5000) {
    UseNode("A");
    struct syslink_info_connect info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    snprintf(info.node, sizeof info.node, "%s", node);
    snprintf(info.service, sizeof info.service, "%s", service);
    info.timeout_ms = timeout_ms;
    if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) != 0) return -errno;
    return info.fd;
  }

  // COMMANDS DMAW commands of 128 KiB from A to a service on B, WINDOW
  // outstanding (CheckWindow); the service starts reading only once B has
  // written the whole first window to it, so that much is at B at once.
  // B's counters after, in *B.
  void RunHeldWindow(int window, int commands, Relay::Counters* b);

  Relay::Options a_options_, b_options_;  // (set before SetUp runs)
  TimerFactory a_relay_timers_;           // (likewise; null: real timers)
  std::string dir_;
  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<FakeMesh> mesh_;
  std::unique_ptr<Node> a_, b_;
  std::thread loop_thread_;
};

// A service thread: echoes kEcho (DMA data +1), holds kHold; with PINGS it
// sends that many kPing commands to each new session. Records notices and
// replies to its pings. DMA data lands in a buffer of its own, or (RING not
// empty) in RING[k % size] for its k-th command (read-only views in map
// mode: then only kCheck, which does not write there). With GATE, it
// reads no command before GATE is ready.
struct Service {
  explicit Service(int fd, int pings = 0, std::vector<unsigned char*> ring = {},
                   std::shared_future<void> gate = {})
      : fd(fd), pings(pings), ring(std::move(ring)), gate(std::move(gate)) {
    thread = std::thread([this] { Run(); });
  }
  ~Service() {
    syslink_close(fd);
    thread.join();
  }
  void Run() {
    static thread_local unsigned char own[SL_DMA_MAX] __attribute__((aligned(4096)));
    uint64_t next = 1;
    uint64_t commands = 0;
    for (;;) {
      if (opened > 0 && gate.valid()) gate.wait();
      Msg m;
      unsigned char* data = ring.empty() ? own : ring[commands % ring.size()];
      struct iovec iov[2] = {{&m, sizeof m}, {data, SL_DMA_MAX}};
      if (syslink_readv(fd, iov, 2) <= 0) return;
      if (m.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
        std::lock_guard<std::mutex> l(mu);
        const sl_cmd_t what = m.msg.sm_head.se_cmd & SE_CMD_MASK;
        if (what == SL_NOTICE_SESSION_OPEN) {
          opened++;
          for (int i = 0; i < pings; i++) {
            Msg p = Command(next++, kPing, m.msg.sm_sessid);
            syslink_write(fd, &p, Len(p));
          }
        } else {
          closed_why.push_back(m.msg.sm_head.se_aux);
        }
        cv.notify_all();
        continue;
      }
      if (m.msg.sm_proto & SM_PROTO_REPLY) {
        std::lock_guard<std::mutex> l(mu);
        ping_replies.push_back(m.msg.sm_head.se_aux);
        cv.notify_all();
        continue;
      }
      commands++;
      if ((m.msg.sm_head.se_cmd & SE_CMD_MASK) == kHold) {
        std::lock_guard<std::mutex> l(mu);
        held++;
        held_bytes += syslink_dma_bytes();
        cv.notify_all();
        continue;
      }
      const size_t got = syslink_dma_bytes();
      if ((m.msg.sm_head.se_cmd & SE_CMD_MASK) == kFill) {
        // DMAR: the pattern, a whole buffer of it.
        for (size_t i = 0; i < SL_DMA_MAX; i++) data[i] = Pattern(i, m.msg.sm_msgid);
        Msg r;
        sl_msg_init_reply(&m.msg, &r.msg, 0);
        sl_msg_fini(&r.msg);
        struct iovec out[2] = {{&r, Len(r)}, {data, SL_DMA_MAX}};
        syslink_writev(fd, out, 2);
        continue;
      }
      if ((m.msg.sm_head.se_cmd & SE_CMD_MASK) == kCheck) {
        // The data must be the pattern, whole: se_aux says.
        int bad = got == SL_DMA_MAX ? 0 : EMSGSIZE;
        for (size_t i = 0; i < got && bad == 0; i++) {
          if (data[i] != Pattern(i, m.msg.sm_msgid)) bad = EBADMSG;
        }
        Msg r;
        sl_msg_init_reply(&m.msg, &r.msg, bad);
        sl_msg_fini(&r.msg);
        syslink_write(fd, &r, Len(r));
        continue;
      }
      for (size_t i = 0; i < got; i++) data[i]++;
      Msg r;
      sl_msg_init_reply(&m.msg, &r.msg, 0);
      sl_msg_fini(&r.msg);
      struct iovec out[2] = {{&r, Len(r)}, {data, got}};
      const bool dmar = m.msg.sm_head.se_cmd & SE_CMDF_DMAR;
      syslink_writev(fd, out, dmar && got > 0 ? 2 : 1);
    }
  }
  // Waits (bounded) until PRED holds under the lock.
  bool WaitFor(std::function<bool()> pred) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(20), pred);
  }
  int fd;
  int pings;
  const std::vector<unsigned char*> ring;
  const std::shared_future<void> gate;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  int opened = 0;
  int held = 0;
  size_t held_bytes = 0;
  std::vector<int> closed_why;
  std::vector<int> ping_replies;
};

void Echo(int fd, int rounds, bool memfd) {
  constexpr size_t kLen = SL_DMA_MAX;
  void* plain = nullptr;
  unsigned char* buf;
  if (memfd) {
    buf = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  } else {
    ASSERT_EQ(posix_memalign(&plain, 4096, kLen), 0);
    buf = static_cast<unsigned char*>(plain);
  }
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < kLen; i++) buf[i] = static_cast<unsigned char>(i * 7 + r);
    Msg c = Command(100 + r, kEcho | SE_CMDF_DMAW | SE_CMDF_DMAR);
    struct iovec iov[2] = {{&c, Len(c)}, {buf, kLen}};
    ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c)));
    Msg rep;
    for (;;) {
      ASSERT_GT(syslink_read(fd, &rep, sizeof rep), 0) << strerror(errno);
      if (rep.msg.sm_proto & SM_PROTO_REPLY) break;  // else a ping: held
    }
    ASSERT_EQ(rep.msg.sm_msgid, 100u + r);
    ASSERT_EQ(rep.msg.sm_head.se_aux, 0);
    ASSERT_EQ(syslink_dma_bytes(), kLen);
    for (size_t i = 0; i < kLen; i++) {
      ASSERT_EQ(buf[i], static_cast<unsigned char>(i * 7 + r + 1)) << "round " << r << " byte " << i;
    }
  }
  if (memfd) syslink_dma_free(buf);
  free(plain);
}

TEST_F(RelayTest, EchoAcrossNodesWithDma) {
  const int lfd = Listen("echo");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "echo");
  ASSERT_GE(fd, 0) << strerror(-fd);
  struct syslink_stats st;
  ASSERT_EQ(syslink_get_stats(fd, &st), 0);
  EXPECT_NE(st.sessid, 0u);
  Echo(fd, 20, false);
  Echo(fd, 20, true);
  // Small messages, many of them, pipelined.
  for (int i = 0; i < 500; i++) {
    Msg c = Command(10000 + i, kEcho);
    ASSERT_GT(syslink_write(fd, &c, Len(c)), 0);
  }
  std::set<uint64_t> seen;
  for (int i = 0; i < 500; i++) {
    Msg r;
    ASSERT_EQ(syslink_read(fd, &r, sizeof r), 32);
    EXPECT_TRUE(seen.insert(r.msg.sm_msgid).second);
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  EXPECT_EQ(svc.closed_why[0], ECONNRESET);
}

// Keeps BUFS.size() commands outstanding on FD, one buffer of SL_DMA_MAX
// bytes each, until COMMANDS have been answered: SEND(buffer, msgid) fills
// the buffer and returns the command; CHECK(reply, buffer) checks each
// reply before its buffer is used again.
void RunWindow(int fd, const std::vector<unsigned char*>& bufs, int commands,
               const std::function<Msg(unsigned char*, uint64_t)>& send,
               const std::function<void(const Msg&, unsigned char*)>& check) {
  std::vector<unsigned char*> free_bufs = bufs;
  std::map<uint64_t, unsigned char*> in_flight;  // msgid -> buffer
  int sent = 0, answered = 0;
  while (answered < commands) {
    while (sent < commands && !free_bufs.empty()) {
      unsigned char* buf = free_bufs.back();
      free_bufs.pop_back();
      const uint64_t id = 1000 + sent;
      Msg c = send(buf, id);
      struct iovec iov[2] = {{&c, Len(c)}, {buf, SL_DMA_MAX}};
      ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c))) << strerror(errno);
      in_flight[id] = buf;
      sent++;
    }
    Msg r;
    ASSERT_GT(syslink_read(fd, &r, sizeof r), 0) << strerror(errno);
    ASSERT_TRUE(r.msg.sm_proto & SM_PROTO_REPLY);
    auto it = in_flight.find(r.msg.sm_msgid);
    ASSERT_NE(it, in_flight.end());
    check(r, it->second);
    if (::testing::Test::HasFatalFailure()) return;
    free_bufs.push_back(it->second);
    in_flight.erase(it);
    answered++;
  }
}

// N syslink_dma_alloc() buffers of SL_DMA_MAX bytes, freed at the end.
struct DmaBufs {
  explicit DmaBufs(int n) {
    for (int i = 0; i < n; i++) {
      v.push_back(static_cast<unsigned char*>(syslink_dma_alloc(SL_DMA_MAX)));
      EXPECT_NE(v.back(), nullptr);
    }
  }
  ~DmaBufs() {
    for (unsigned char* b : v) syslink_dma_free(b);
  }
  std::vector<unsigned char*> v;
};

// RunWindow with kCheck DMAW commands, each buffer filled with its
// command's pattern; the buffer is scribbled on after the reply (which must
// not matter).
void CheckWindow(int fd, const std::vector<unsigned char*>& bufs, int commands) {
  RunWindow(
      fd, bufs, commands,
      [](unsigned char* buf, uint64_t id) {
        for (size_t i = 0; i < SL_DMA_MAX; i++) buf[i] = Pattern(i, id);
        return Command(id, kCheck | SE_CMDF_DMAW);
      },
      [](const Msg& r, unsigned char* buf) {
        EXPECT_EQ(r.msg.sm_head.se_aux, 0) << "command " << r.msg.sm_msgid;
        memset(buf, 0xee, SL_DMA_MAX);
      });
}

// RunWindow with kFill DMAR commands into scribbled-on buffers: each reply
// must bring its whole pattern.
void FillWindow(int fd, const std::vector<unsigned char*>& bufs, int commands) {
  RunWindow(
      fd, bufs, commands,
      [](unsigned char* buf, uint64_t id) {
        memset(buf, 0xee, SL_DMA_MAX);
        return Command(id, kFill | SE_CMDF_DMAR);
      },
      [](const Msg& r, unsigned char* buf) {
        ASSERT_EQ(r.msg.sm_head.se_aux, 0) << "command " << r.msg.sm_msgid;
        ASSERT_EQ(syslink_dma_bytes(), SL_DMA_MAX);
        for (size_t i = 0; i < SL_DMA_MAX; i++) {
          ASSERT_EQ(buf[i], Pattern(i, r.msg.sm_msgid))
              << "reply " << r.msg.sm_msgid << " byte " << i;
        }
      });
}

// Opens GO once node B has written N messages to its local process (or
// after 10 s), on a thread of its own: joined by the destructor.
class OpenWhenDelivered {
 public:
  OpenWhenDelivered(FakeMesh* mesh, Node* b, uint64_t n, std::promise<void>* go)
      : thread_([=] {
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          for (;;) {
            uint64_t delivered = 0;
            mesh->RunOnLoop([&] { delivered = b->relay.counters().msgs_to_local; });
            if (delivered >= n || std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::yield();
          }
          go->set_value();
        }) {}
  ~OpenWhenDelivered() { thread_.join(); }

 private:
  std::thread thread_;
};

// Both nodes with session windows of GetParam() bytes.
class WindowTest : public RelayTest, public ::testing::WithParamInterface<uint32_t> {
 protected:
  WindowTest() { a_options_.window_bytes = b_options_.window_bytes = GetParam(); }
};

void RelayTest::RunHeldWindow(int window, int commands, Relay::Counters* b) {
  const int lfd = Listen("check");
  ASSERT_GE(lfd, 0);
  std::promise<void> go;
  Service svc(lfd, 0, {}, go.get_future().share());
  const int fd = Connect("B", "check");
  ASSERT_GE(fd, 0) << strerror(-fd);
  // (The default DMA quota, 2 MiB, would hold the 17th command back.)
  ASSERT_EQ(syslink_set_quota(fd, 0, size_t(window) * SL_DMA_MAX), 0) << strerror(errno);
  DmaBufs bufs(window);
  {
    OpenWhenDelivered opener(mesh_.get(), b_.get(), window, &go);
    CheckWindow(fd, bufs.v, commands);
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  mesh_->RunOnLoop([&] { *b = b_->relay.counters(); });
}

TEST_P(WindowTest, AWindowOfBulkCommandsLandsInTheRing) {
  // As many 128 KiB DMAW commands outstanding as the window holds with their
  // framing (7 in 1 MiB, 15 in 2 MiB, the default, 31 in 4 MiB), all at the
  // receiving meshd at once: each is read from the mesh straight into a
  // slot of that meshd's ring, none copied in user space there, and every
  // byte arrives as sent.
  const int window = static_cast<int>(GetParam() / SL_DMA_MAX) - 1;
  const int commands = 8 * window;
  Relay::Counters b;
  RunHeldWindow(window, commands, &b);
  if (HasFatalFailure()) return;
  EXPECT_EQ(mesh_->splits, commands);
  EXPECT_EQ(b.dma_bytes_to_local, uint64_t(commands) * SL_DMA_MAX);
  EXPECT_EQ(b.dma_bytes_copied, 0u);
}

INSTANTIATE_TEST_SUITE_P(Windows, WindowTest,
                         ::testing::Values(1u << 20, Relay::Options().window_bytes, 4u << 20));

// Windows of 8 MiB: more 128 KiB commands in flight than a ring has slots
// (32 at most).
class DeepWindowTest : public RelayTest {
 protected:
  DeepWindowTest() { a_options_.window_bytes = b_options_.window_bytes = 8u << 20; }
};

TEST_F(DeepWindowTest, CommandsBeyondTheRingGoByPipeIntact) {
  // DMAW commands from shared buffers, 40 outstanding and all at the
  // receiving meshd at once: 32 land in its ring, the rest go to the
  // service by pipe (copied once there); each buffer is reused as soon as
  // its reply came, and every byte must arrive as sent.
  constexpr int kWindow = 40, kCommands = 200;
  Relay::Counters b;
  RunHeldWindow(kWindow, kCommands, &b);
  if (HasFatalFailure()) return;
  EXPECT_GT(mesh_->splits, kCommands / 2);
  EXPECT_LE(mesh_->splits, kCommands - (kWindow - 32));
  EXPECT_GE(b.dma_bytes_copied, uint64_t{kWindow - 32} * SL_DMA_MAX);
}

TEST_F(RelayTest, MappedServiceKeepsItsViewsOfTheRing) {
  // A service in map mode, reading into a ring of its own buffers as deep as
  // the receiving meshd's home slots (8), takes DMAW data as views of that
  // meshd's ring slots. The home slots go round robin, so however the
  // client paces its commands (here: bursts of 1 to 7, each waited for),
  // each of the service's buffers keeps seeing the same slot: no view is
  // made twice.
  const int lfd = Listen("mapped");
  ASSERT_GE(lfd, 0);
  ASSERT_EQ(syslink_set_dma_map(lfd, 1), 0);
  constexpr int kRing = 8;
  DmaBufs ring(kRing);
  const uint64_t views_before = libsyslink::DmaBuffers::Get().views_mapped();
  Service svc(lfd, 0, ring.v);
  const int fd = Connect("B", "mapped");
  ASSERT_GE(fd, 0) << strerror(-fd);
  DmaBufs client(kRing);
  const std::vector<unsigned char*>& bufs = client.v;
  uint64_t id = 1000;
  for (int pass = 0; pass < 3; pass++) {
    for (int burst = 1; burst < kRing; burst++) {
      for (int k = 0; k < burst; k++) {
        for (size_t i = 0; i < SL_DMA_MAX; i++) bufs[k][i] = Pattern(i, id);
        Msg c = Command(id++, kCheck | SE_CMDF_DMAW);
        struct iovec iov[2] = {{&c, Len(c)}, {bufs[k], SL_DMA_MAX}};
        ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c))) << strerror(errno);
      }
      for (int k = 0; k < burst; k++) {
        Msg r;
        ASSERT_GT(syslink_read(fd, &r, sizeof r), 0) << strerror(errno);
        ASSERT_TRUE(r.msg.sm_proto & SM_PROTO_REPLY);
        EXPECT_EQ(r.msg.sm_head.se_aux, 0) << "command " << r.msg.sm_msgid;
      }
    }
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  const uint64_t views = libsyslink::DmaBuffers::Get().views_mapped() - views_before;
  EXPECT_GT(views, 0u) << "nothing was mapped: the data was copied";
  EXPECT_LE(views, static_cast<uint64_t>(kRing)) << "views were remade as slots changed";
}

TEST_F(RelayTest, PipelinedBulkRepliesArriveIntact) {
  // DMAR commands with 128 KiB of room, more outstanding than a ring has
  // slots (the service's meshd lets it write replies into ring slots, and
  // sends them from there; the rest through landing buffers): every reply
  // must bring its own data, whatever the buffer held before.
  const int lfd = Listen("fill");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "fill");
  ASSERT_GE(fd, 0) << strerror(-fd);
  constexpr int kWindow = 12, kCommands = 120;
  std::vector<unsigned char*> bufs;
  for (int i = 0; i < kWindow; i++) {
    void* plain = nullptr;
    if (i % 2 == 0) {
      bufs.push_back(static_cast<unsigned char*>(syslink_dma_alloc(SL_DMA_MAX)));
    } else {
      ASSERT_EQ(posix_memalign(&plain, 4096, SL_DMA_MAX), 0);
      bufs.push_back(static_cast<unsigned char*>(plain));
    }
    ASSERT_NE(bufs.back(), nullptr);
  }
  FillWindow(fd, bufs, kCommands);
  for (int i = 0; i < kWindow; i++) {
    if (i % 2 == 0) {
      syslink_dma_free(bufs[i]);
    } else {
      free(bufs[i]);
    }
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
}

// Nodes may be configured with different windows
// (mesh.max_session_inflight_bytes). The service edge sends within the
// smaller of its own and the client edge's (announced in the OPEN) and
// takes what the client edge sends within its own: bulk data flows both
// ways, and no session is torn down as overrunning its window.
class UnequalWindowsTest : public RelayTest,
                           public ::testing::WithParamInterface<std::pair<uint32_t, uint32_t>> {
 protected:
  UnequalWindowsTest() {
    a_options_.window_bytes = GetParam().first;
    b_options_.window_bytes = GetParam().second;
  }
};

TEST_P(UnequalWindowsTest, BulkFlowsBothWays) {
  const int lfd = Listen("check");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "check");
  ASSERT_GE(fd, 0) << strerror(-fd);
  DmaBufs bufs(16);  // the library's default DMA quota: 2 MiB
  CheckWindow(fd, bufs.v, 100);
  FillWindow(fd, bufs.v, 60);
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  EXPECT_EQ(svc.closed_why[0], ECONNRESET);  // the client closed; no teardown
}

INSTANTIATE_TEST_SUITE_P(ClientOrServiceLarger, UnequalWindowsTest,
                         ::testing::Values(std::pair{4u << 20, 256u << 10},
                                           std::pair{256u << 10, 4u << 20}));

class LargerClientWindowTest : public RelayTest {
 protected:
  static constexpr uint32_t kClientWindow = 4u << 20, kServiceWindow = 256u << 10;
  LargerClientWindowTest() {
    a_options_.window_bytes = kClientWindow;
    b_options_.window_bytes = kServiceWindow;
  }
};

TEST_F(LargerClientWindowTest, ServiceEdgeHoldsWhatTheClientWindowAllows) {
  // A service that does not read for a while: its edge queues what the
  // client's edge sent, up to the client's window, which is larger than
  // the service node's own. That is not an overrun: nothing is torn down.
  const uint32_t client_window = kClientWindow, service_window = kServiceWindow;
  const int lfd = Listen("slow");
  ASSERT_GE(lfd, 0);
  std::promise<void> opened, go;
  std::thread svc([&] {
    bool waited = false;
    for (;;) {
      Msg m;
      if (syslink_read(lfd, &m, sizeof m) <= 0) return;
      if (m.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
        const sl_cmd_t what = m.msg.sm_head.se_cmd & SE_CMD_MASK;
        if (what == SL_NOTICE_SESSION_CLOSED) return;
        if (what == SL_NOTICE_SESSION_OPEN) opened.set_value();
        continue;
      }
      if (!waited) {
        go.get_future().wait();
        waited = true;
      }
      Msg r;
      sl_msg_init_reply(&m.msg, &r.msg, 0);
      sl_msg_fini(&r.msg);
      syslink_write(lfd, &r, Len(r));
    }
  });
  const int fd = Connect("B", "slow");
  ASSERT_GE(fd, 0) << strerror(-fd);
  opened.get_future().wait();
  // Commands of 32 bytes, more than twice the service's window of them
  // (relay framing included), and within the client's.
  ASSERT_EQ(syslink_set_quota(fd, client_window, 0), 0);
  const int n = static_cast<int>(3 * service_window / 64);
  for (int i = 0; i < n; i++) {
    Msg c = Command(1 + i, kEcho);
    ASSERT_EQ(syslink_write(fd, &c, Len(c)), static_cast<ssize_t>(Len(c))) << i;
  }
  // Until the service's edge holds more than twice its own window (or has
  // given up on the session).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    uint64_t queued = 0;
    bool edge = false;
    mesh_->RunOnLoop([&] {
      for (const auto& si : b_->relay.Sessions()) {
        if (si.role != "service-edge") continue;
        edge = true;
        queued = si.queued_bytes;
      }
    });
    if (!edge || queued > 2ull * service_window) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "queued " << queued;
    std::this_thread::yield();
  }
  go.set_value();
  for (int i = 0; i < n; i++) {
    Msg r;
    ASSERT_GT(syslink_read(fd, &r, sizeof r), 0) << strerror(errno);
    ASSERT_EQ(r.msg.sm_head.se_aux, 0) << "reply " << i << " of " << n;
  }
  syslink_close(fd);
  svc.join();
  syslink_close(lfd);
}

// A client node whose window is over four times the service node's (4 MiB
// against 256 KiB): the service edge sends within 256 KiB, so the client
// edge must credit by then, not at a quarter of its own window or when its
// credit timer fires. Here the client node's relay timers never fire: at
// the tail of a bulk read, with no more commands to carry credit, the
// replies would stop for good.
class SmallServiceWindowTest : public RelayTest {
 protected:
  SmallServiceWindowTest() {
    a_options_.window_bytes = 4u << 20;
    b_options_.window_bytes = 256u << 10;
    a_relay_timers_ = [] { return std::unique_ptr<Timer>(new NeverTimer); };
  }
};

TEST_F(SmallServiceWindowTest, ClientEdgeCreditsWithinTheServiceWindow) {
  const int lfd = Listen("fill");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "fill");
  ASSERT_GE(fd, 0) << strerror(-fd);
  struct timeval tv = {10, 0};  // a stall fails a read instead of hanging
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  // Eight reads of 128 KiB sent at once: 1 MiB of replies, four times the
  // service window, and no command after them to carry credit.
  constexpr int kCommands = 8;
  DmaBufs bufs(kCommands);
  for (int i = 0; i < kCommands; i++) {
    Msg c = Command(1000 + i, kFill | SE_CMDF_DMAR);
    struct iovec iov[2] = {{&c, Len(c)}, {bufs.v[i], SL_DMA_MAX}};
    ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c))) << strerror(errno);
  }
  for (int i = 0; i < kCommands; i++) {
    Msg r;
    ASSERT_GT(syslink_read(fd, &r, sizeof r), 0) << "reply " << i << ": " << strerror(errno);
    ASSERT_EQ(r.msg.sm_head.se_aux, 0);
    ASSERT_EQ(syslink_dma_bytes(), SL_DMA_MAX);
    const unsigned char* buf = bufs.v[r.msg.sm_msgid - 1000];
    for (size_t k : {size_t{0}, size_t{SL_DMA_MAX / 2}, size_t{SL_DMA_MAX - 1}}) {
      ASSERT_EQ(buf[k], Pattern(k, r.msg.sm_msgid)) << "reply " << r.msg.sm_msgid;
    }
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
}

TEST_F(SmallServiceWindowTest, ClientEdgeCreditsBeforeHalfTheServiceWindowIsUsed) {
  // One 128 KiB read: half the service window. The client edge must start
  // the credit back now (it owes more than a quarter of the smallest
  // window), not once a quarter of its own 4 MiB, or 256 KiB, is owed:
  // else a service node with a small window spends it, then idles while
  // the credit crosses the mesh. No timer fires on the client node, and no
  // command follows to carry the credit.
  const int lfd = Listen("fill");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "fill");
  ASSERT_GE(fd, 0) << strerror(-fd);
  DmaBufs bufs(1);
  Msg c = Command(77, kFill | SE_CMDF_DMAR);
  struct iovec iov[2] = {{&c, Len(c)}, {bufs.v[0], SL_DMA_MAX}};
  ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c))) << strerror(errno);
  Msg r;
  ASSERT_GT(syslink_read(fd, &r, sizeof r), 0) << strerror(errno);
  ASSERT_EQ(r.msg.sm_head.se_aux, 0);
  // Until the service edge has its whole window back.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    uint64_t used = ~uint64_t{0};
    mesh_->RunOnLoop([&] {
      for (const auto& si : b_->relay.Sessions()) {
        if (si.role == "service-edge") used = si.window_used;
      }
    });
    if (used == 0) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the service edge still waits for credit for " << used << " bytes";
    std::this_thread::yield();
  }
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
}

TEST_F(RelayTest, AFullWindowIsCounted) {
  // A service that reads nothing for now: once its socket and its edge's
  // queue hold what the client edge sent, credit stops, and the client
  // edge stops reading its local process, and counts that.
  const int lfd = Listen("stall");
  ASSERT_GE(lfd, 0);
  std::promise<void> go;
  Service svc(lfd, 0, {}, go.get_future().share());
  const int fd = Connect("B", "stall");
  ASSERT_GE(fd, 0) << strerror(-fd);
  ASSERT_EQ(syslink_set_quota(fd, 1 << 20, 8 << 20), 0);
  constexpr size_t kLen = 64 * 1024;
  constexpr int kCommands = 64;  // 4 MiB: a window (1 MiB), a socket buffer and more
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  ASSERT_NE(buf, nullptr);
  std::thread writer([&] {
    for (int i = 0; i < kCommands; i++) {
      Msg h = Command(5000 + i, kHold | SE_CMDF_DMAW);
      struct iovec iov[2] = {{&h, Len(h)}, {buf, kLen}};
      if (syslink_writev(fd, iov, 2) != static_cast<ssize_t>(Len(h))) return;
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Relay::Counters a{}, b{};
  for (;;) {
    mesh_->RunOnLoop([&] {
      a = a_->relay.counters();
      b = b_->relay.counters();
    });
    if (a.window_waits > 0 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::yield();
  }
  go.set_value();
  writer.join();
  EXPECT_GE(a.window_waits, 1u);
  EXPECT_EQ(a.congestion_waits, 0u);  // (this test's mesh never congests)
  EXPECT_EQ(b.window_waits, 0u);      // the service sent nothing
  ASSERT_TRUE(svc.WaitFor([&] { return svc.held == kCommands; })) << svc.held << " arrived";
  syslink_close(fd);
  syslink_dma_free(buf);
}

TEST_F(RelayTest, CreditFlowsWithoutReplies) {
  // Credit usually rides on replies; a service that answers nothing must
  // still get more than one window (1 MiB) of commands: CREDIT frames.
  const int lfd = Listen("sink");
  ASSERT_GE(lfd, 0);
  Service svc(lfd);
  const int fd = Connect("B", "sink");
  ASSERT_GE(fd, 0) << strerror(-fd);
  ASSERT_EQ(syslink_set_quota(fd, 1 << 20, 8 << 20), 0);
  constexpr size_t kLen = 64 * 1024;
  constexpr int kCommands = 48;  // 3 MiB
  unsigned char* buf = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  ASSERT_NE(buf, nullptr);
  memset(buf, 'h', kLen);
  for (int i = 0; i < kCommands; i++) {
    Msg h = Command(9000 + i, kHold | SE_CMDF_DMAW);
    struct iovec iov[2] = {{&h, Len(h)}, {buf, kLen}};
    ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(h))) << strerror(errno);
  }
  ASSERT_TRUE(svc.WaitFor([&] { return svc.held == kCommands; })) << svc.held << " arrived";
  EXPECT_EQ(svc.held_bytes, kCommands * kLen);
  syslink_close(fd);
  syslink_dma_free(buf);
}

TEST_F(RelayTest, OpenErrors) {
  EXPECT_EQ(Connect("C", "echo"), -EHOSTUNREACH);
  EXPECT_EQ(Connect("B", "nobody"), -ECONNREFUSED);
  const int lfd = Listen("sleepy");  // never reads: never takes a session
  ASSERT_GE(lfd, 0);
  EXPECT_EQ(Connect("B", "sleepy", 300), -ETIMEDOUT);
  syslink_close(lfd);
}

// The client goes away while the service has commands outstanding to it:
// each gets ECONNRESET (synthesized at the client's node, relayed back),
// then the service sees the session close.
TEST_F(RelayTest, ClientDeathAnswersTheServicesCommands) {
  const int lfd = Listen("echo");
  ASSERT_GE(lfd, 0);
  Service svc(lfd, /*pings=*/9);
  const int fd = Connect("B", "echo");
  ASSERT_GE(fd, 0);
  Echo(fd, 2, false);  // the pings have arrived by now (same path, in order)
  syslink_close(fd);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  std::lock_guard<std::mutex> l(svc.mu);
  EXPECT_EQ(svc.ping_replies.size(), 9u);
  for (int e : svc.ping_replies) EXPECT_EQ(e, ECONNRESET);
  EXPECT_EQ(svc.closed_why[0], ECONNRESET);
}

// The service goes away: the client's outstanding commands get ECONNRESET.
TEST_F(RelayTest, ServiceDeathAnswersTheClientsCommands) {
  const int lfd = Listen("echo");
  ASSERT_GE(lfd, 0);
  auto svc = std::make_unique<Service>(lfd);
  const int fd = Connect("B", "echo");
  ASSERT_GE(fd, 0);
  Echo(fd, 1, true);
  for (int i = 0; i < 15; i++) {
    Msg h = Command(500 + i, kHold);
    ASSERT_GT(syslink_write(fd, &h, Len(h)), 0);
  }
  Echo(fd, 1, false);  // the holds were delivered before this echo
  svc.reset();         // closes the LISTEN descriptor: every session ends
  std::set<uint64_t> got;
  for (;;) {
    Msg r;
    const ssize_t n = syslink_read(fd, &r, sizeof r);
    ASSERT_GE(n, 0);
    if (n == 0) break;
    EXPECT_EQ(r.msg.sm_head.se_aux, ECONNRESET);
    EXPECT_TRUE(got.insert(r.msg.sm_msgid).second);
  }
  EXPECT_EQ(got.size(), 15u);
  syslink_close(fd);
}

// The link between the nodes fails: everything in flight gets EHOSTUNREACH
// on both sides, exactly once.
TEST_F(RelayTest, LinkFailureTearsTheSessionDown) {
  const int lfd = Listen("echo");
  ASSERT_GE(lfd, 0);
  Service svc(lfd, /*pings=*/4);
  const int fd = Connect("B", "echo");
  ASSERT_GE(fd, 0);
  Echo(fd, 2, false);
  for (int i = 0; i < 12; i++) {
    Msg h = Command(700 + i, kHold);
    ASSERT_GT(syslink_write(fd, &h, Len(h)), 0);
  }
  mesh_->Cut();
  std::set<uint64_t> got;
  for (;;) {
    Msg r;
    const ssize_t n = syslink_read(fd, &r, sizeof r);
    ASSERT_GE(n, 0);
    if (n == 0) break;
    if (!(r.msg.sm_proto & SM_PROTO_REPLY)) continue;  // a ping
    EXPECT_EQ(r.msg.sm_head.se_aux, EHOSTUNREACH);
    EXPECT_TRUE(got.insert(r.msg.sm_msgid).second);
  }
  EXPECT_EQ(got.size(), 12u);
  ASSERT_TRUE(svc.WaitFor([&] { return svc.closed_why.size() == 1; }));
  std::lock_guard<std::mutex> l(svc.mu);
  EXPECT_EQ(svc.closed_why[0], EHOSTUNREACH);
  EXPECT_EQ(svc.ping_replies.size(), 4u);
  for (int e : svc.ping_replies) EXPECT_EQ(e, EHOSTUNREACH);
  syslink_close(fd);
}

}  // namespace
}  // namespace meshd
