// mesh_bench: the mesh DATA path against raw TCP, in one run, over
// loopback. Two MeshNodes, each on its own loop and thread (like two
// meshds), and two plain threads with blocking sockets for the baseline.
//
//   bazel run -c opt //meshd/mesh:mesh_bench -- [--seconds_per_case=2]
//
// Prints, per payload size, streaming throughput (GB/s) for the mesh link
// (sender respecting Congested/OnLinkWritable) and for raw TCP (write/read
// of [u32 length][payload] records, one writev each, read into a fresh
// buffer each), and the round trip of a 64-byte
// request echoed by the far side (p50/p99), mesh vs raw TCP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <csignal>
#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "meshd/mesh/mesh_node.h"

ABSL_FLAG(double, seconds_per_case, 2.0, "how long each streaming case runs");
ABSL_FLAG(int, round_trips, 20000, "round trips measured per latency case");
ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"64", "1024", "16384", "65536", "1048576"}),
          "payload sizes to stream");
ABSL_FLAG(bool, tcp, true, "also run the raw TCP baseline");

namespace {

using meshd::LinkId;
using meshd::MeshNode;
using meshd::NodeId;

const char kKey[] = "benchmark-cluster-key-123456";

// One node on its own loop thread. Everything it does happens on that
// thread; the main thread only reads atomics and asks it to stop.
class Side : public MeshNode::Handler {
 public:
  Side(std::string name, NodeId id, std::string peer_address) {
    uv_loop_init(&loop_);
    MeshNode::Options o;
    o.node_name = std::move(name);
    o.node_id = id;
    o.listen_address = peer_address.empty() ? "127.0.0.1:0" : "";
    if (!peer_address.empty()) o.peers = {{peer_address, ""}};
    o.cluster_key = kKey;
    node_ = std::make_unique<MeshNode>(&loop_, o, this);
    if (!node_->Start().ok()) abort();
    uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<Side*>(a->data)->RunCommands(); });
    async_.data = this;
  }
  ~Side() {
    if (thread_.joinable()) thread_.join();
    uv_loop_close(&loop_);
  }
  void Run() {
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  // Runs FN on the loop thread.
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      commands_.push_back(std::move(fn));
    }
    uv_async_send(&async_);
  }
  void Stop() {
    Post([this] {
      node_->Stop();
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    });
    thread_.join();
  }
  int port() const { return node_->listen_port(); }

  // Handler.
  void OnData(LinkId from, NodeId, std::string payload) override {
    bytes_in += payload.size();
    frames_in++;
    if (echo) {
      node_->SendData(from, std::move(payload));
    } else if (on_data) {
      on_data(from, std::move(payload));
    }
  }
  void OnLinkUp(LinkId link, NodeId) override { link_ = link; link_up = true; }
  void OnLinkDown(LinkId, NodeId) override { link_up = false; }
  void OnLinkWritable(LinkId) override {
    if (on_writable) on_writable();
  }

  MeshNode* node() { return node_.get(); }
  LinkId link() const { return link_; }

  std::atomic<uint64_t> bytes_in{0}, frames_in{0};
  std::atomic<bool> link_up{false};
  bool echo = false;
  std::function<void(LinkId, std::string)> on_data;
  std::function<void()> on_writable;

 private:
  void RunCommands() {
    std::vector<std::function<void()>> cmds;
    {
      std::lock_guard<std::mutex> l(mu_);
      cmds.swap(commands_);
    }
    for (auto& c : cmds) c();
  }

  uv_loop_t loop_;
  uv_async_t async_;
  std::unique_ptr<MeshNode> node_;
  LinkId link_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::function<void()>> commands_;
};

void WaitFor(const std::function<bool()>& pred) {
  while (!pred()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Mesh streaming: A sends SIZE-byte frames for SECONDS, as fast as
// backpressure allows; returns GB/s received by B.
double MeshStream(Side* a, Side* b, size_t size, double seconds) {
  std::atomic<bool> stop{false};
  const uint64_t start_bytes = b->bytes_in;
  // The pump lives on A's loop thread.
  auto pump = std::make_shared<std::function<void()>>();
  *pump = [a, size, &stop] {
    MeshNode* n = a->node();
    const LinkId l = a->link();
    while (!stop && !n->Congested(l)) {
      if (!n->SendData(l, std::string(size, 'x'))) return;
    }
  };
  a->Post([a, pump] {
    a->on_writable = *pump;
    (*pump)();
  });
  const absl::Time t0 = absl::Now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  const uint64_t got = b->bytes_in - start_bytes;
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  a->Post([a] { a->on_writable = nullptr; });
  // Let the queue drain before the next case.
  const uint64_t target = b->bytes_in;
  (void)target;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return static_cast<double>(got) / secs / 1e9;
}

// Mesh round trips: A sends 64 bytes, B echoes, A measures.
std::vector<double> MeshRoundTrips(Side* a, Side* b, int n) {
  b->Post([b] { b->echo = true; });
  std::vector<double> us;
  us.reserve(n);
  std::atomic<bool> done{false};
  auto t_send = std::make_shared<uint64_t>(0);
  a->Post([a, n, &us, &done, t_send] {
    a->on_data = [a, n, &us, &done, t_send](LinkId l, std::string payload) {
      us.push_back(static_cast<double>(uv_hrtime() - *t_send) / 1000.0);
      if (static_cast<int>(us.size()) == n) {
        done = true;
        return;
      }
      *t_send = uv_hrtime();
      a->node()->SendData(l, std::move(payload));
    };
    *t_send = uv_hrtime();
    a->node()->SendData(a->link(), std::string(64, 'p'));
  });
  WaitFor([&] { return done.load(); });
  b->Post([b] { b->echo = false; });
  a->Post([a] { a->on_data = nullptr; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return us;
}

// Raw TCP baseline: a connected pair of blocking loopback sockets.
void TcpPair(int* client, int* server) {
  const int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(l, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<struct sockaddr*>(&a), &len);
  listen(l, 1);
  *client = socket(AF_INET, SOCK_STREAM, 0);
  connect(*client, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  *server = accept(l, nullptr, nullptr);
  close(l);
  int one = 1;
  setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool ReadFull(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

double TcpStream(size_t size, double seconds) {
  int c, s;
  TcpPair(&c, &s);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> got{0};
  std::thread reader([&] {
    for (;;) {
      uint32_t len;
      if (!ReadFull(s, reinterpret_cast<char*>(&len), 4)) return;
      // A fresh buffer per record, as a receiver that hands each payload to
      // the application must (the mesh does the same).
      std::string buf(len, '\0');
      if (!ReadFull(s, buf.data(), len)) return;
      got += len;
    }
  });
  const absl::Time t0 = absl::Now();
  std::thread writer([&] {
    while (!stop) {
      // Like the mesh sender: a fresh payload each time, header + payload
      // in one writev.
      std::string p(size, 'x');
      const uint32_t len = static_cast<uint32_t>(size);
      struct iovec iov[2] = {{const_cast<uint32_t*>(&len), 4}, {p.data(), size}};
      size_t left = 4 + size;
      int i = 0;
      while (left > 0) {
        const ssize_t r = writev(c, iov + i, 2 - i);
        if (r <= 0) return;
        left -= static_cast<size_t>(r);
        size_t adv = static_cast<size_t>(r);
        while (i < 2 && adv >= iov[i].iov_len) adv -= iov[i++].iov_len;
        if (i < 2) {
          iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + adv;
          iov[i].iov_len -= adv;
        }
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t bytes = got;
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  stop = true;
  shutdown(c, SHUT_RDWR);
  shutdown(s, SHUT_RDWR);
  writer.join();
  reader.join();
  close(c);
  close(s);
  return static_cast<double>(bytes) / secs / 1e9;
}

std::vector<double> TcpRoundTrips(int n) {
  int c, s;
  TcpPair(&c, &s);
  std::thread echo([&] {
    char buf[68];
    while (ReadFull(s, buf, sizeof buf) && WriteFull(s, buf, sizeof buf)) {
    }
  });
  std::vector<double> us;
  char buf[68] = {};
  for (int i = 0; i < n; i++) {
    const uint64_t t = uv_hrtime();
    WriteFull(c, buf, sizeof buf);
    ReadFull(c, buf, sizeof buf);
    us.push_back(static_cast<double>(uv_hrtime() - t) / 1000.0);
  }
  shutdown(c, SHUT_RDWR);
  echo.join();
  close(c);
  close(s);
  return us;
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  common::SetLogLevel(common::LogLevel::kWarn);
  const double secs = absl::GetFlag(FLAGS_seconds_per_case);
  const int trips = absl::GetFlag(FLAGS_round_trips);

  auto b = std::make_unique<Side>("bench-b", 2, "");
  auto a = std::make_unique<Side>("bench-a", 1, "127.0.0.1:" + std::to_string(b->port()));
  b->Run();
  a->Run();
  WaitFor([&] { return a->link_up.load() && b->link_up.load(); });

  printf("%-12s %12s %12s %8s\n", "payload", "mesh GB/s", "tcp GB/s", "ratio");
  for (const std::string& s : absl::GetFlag(FLAGS_sizes)) {
    const size_t size = std::stoul(s);
    const double m = MeshStream(a.get(), b.get(), size, secs);
    const double t = absl::GetFlag(FLAGS_tcp) ? TcpStream(size, secs) : 1;
    printf("%-12zu %12.3f %12.3f %8.2f\n", size, m, t, m / t);
  }
  const std::vector<double> mr = MeshRoundTrips(a.get(), b.get(), trips);
  const std::vector<double> tr = absl::GetFlag(FLAGS_tcp) ? TcpRoundTrips(trips) : mr;
  printf("\nround trip, 64 B echoed (%d):\n", trips);
  printf("  mesh  p50 %7.1f us  p99 %7.1f us\n", Pct(mr, 0.5), Pct(mr, 0.99));
  printf("  tcp   p50 %7.1f us  p99 %7.1f us\n", Pct(tr, 0.5), Pct(tr, 0.99));
  printf("  ratio p50 %7.2f\n", Pct(mr, 0.5) / Pct(tr, 0.5));

  a->Stop();
  b->Stop();
  return 0;
}
