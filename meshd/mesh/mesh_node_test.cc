// Several MeshNodes on one uv_loop in one process, over real loopback TCP
// (port 0), plus a scripted peer (RawPeer) that speaks the wire protocol
// by hand to misbehave. Waits are bounded: the loop runs until a condition
// holds or a deadline passes; nothing sleeps.
#include "meshd/mesh/mesh_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "gtest/gtest.h"
#include "meshd/mesh/frame.h"
#include "meshd/mesh/handshake.h"
#include "meshd/mesh/messages.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace {

using mesh::Frame;
using mesh::FrameType;

const std::string kKey = "test-cluster-key-0123456789";
// Short, but with headroom: all nodes of a test share one loop, so a loaded
// machine delays everyone's heartbeats at once.
constexpr uint32_t kHeartbeatMs = 25;
constexpr uint32_t kDeadMs = 300;

// Records everything the node tells its handler.
class Recorder : public MeshNode::Handler {
 public:
  void OnData(LinkId from, NodeId from_node, std::string payload) override {
    EXPECT_EQ(up.count(from), 1u) << "data on a link not (yet) up";
    data.push_back({from, from_node, std::move(payload)});
    if (on_data) on_data(from, from_node);
  }
  void OnLinkUp(LinkId link, NodeId peer) override {
    ups.push_back({link, peer});
    up[link] = peer;
  }
  void OnLinkDown(LinkId link, NodeId peer) override {
    downs.push_back({link, peer});
    EXPECT_EQ(up.count(link), 1u) << "down without up";
    up.erase(link);
  }
  void OnReachability(NodeId node, bool r) override {
    reachable[node] = r;
    reach_events++;
  }
  void OnLinkWritable(LinkId link) override { writable.push_back(link); }
  // With split_len set: every large frame's bytes [100, 100 + split_len)
  // go to a buffer of their own (then reassembled by the default
  // OnSplitData, counted in splits).
  mesh::PayloadSplit SplitData(LinkId from, std::string_view first, uint32_t len) override {
    if (split_len == 0) return {};
    split_firsts.push_back(std::string(first));
    auto buf = std::make_shared<std::string>(split_len, '\0');
    return mesh::PayloadSplit{100, split_len, buf->data(), buf};
  }
  void OnSplitData(LinkId from, NodeId from_node, std::string payload,
                   mesh::PayloadSplit split) override {
    splits++;
    MeshNode::Handler::OnSplitData(from, from_node, std::move(payload), std::move(split));
  }
  size_t split_len = 0;
  int splits = 0;
  std::vector<std::string> split_firsts;

  struct Data {
    LinkId link;
    NodeId node;
    std::string payload;
  };
  std::vector<Data> data;
  std::vector<std::pair<LinkId, NodeId>> ups, downs;
  std::map<LinkId, NodeId> up;
  std::map<NodeId, bool> reachable;
  int reach_events = 0;
  std::vector<LinkId> writable;
  std::function<void(LinkId, NodeId)> on_data;
};

struct TestNode {
  Recorder rec;
  std::unique_ptr<MeshNode> node;
  MeshNode* operator->() { return node.get(); }
};

class MeshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    common::SetLogLevel(common::LogLevel::kWarn);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    // Wakes the loop often, so RunUntil re-checks its condition.
    uv_timer_init(&loop_, &wake_);
    uv_timer_start(&wake_, [](uv_timer_t*) {}, 5, 5);
  }

  void TearDown() override {
    for (auto& n : nodes_) n->node->Stop();
    EXPECT_TRUE(RunUntil([&] {
      for (auto& n : nodes_) {
        if (!n->node->stopped()) return false;
      }
      return true;
    }));
    nodes_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "handles left open";
  }

  static MeshNode::Options Opts(const std::string& name, NodeId id) {
    MeshNode::Options o;
    o.node_name = name;
    o.node_id = id;
    o.listen_address = "127.0.0.1:0";
    o.cluster_key = kKey;
    o.heartbeat_interval_ms = kHeartbeatMs;
    o.dead_interval_ms = kDeadMs;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 100;
    o.handshake_timeout_ms = 1000;
    return o;
  }

  TestNode* Add(MeshNode::Options o) {
    auto n = std::make_unique<TestNode>();
    n->node = std::make_unique<MeshNode>(&loop_, std::move(o), &n->rec);
    absl::Status s = n->node->Start();
    EXPECT_TRUE(s.ok()) << s;
    nodes_.push_back(std::move(n));
    return nodes_.back().get();
  }

  // Stops N and runs the loop until it has released everything; N stays in
  // nodes_ (stopped) so its recorder can still be read.
  void StopAndWait(TestNode* n) {
    n->node->Stop();
    ASSERT_TRUE(RunUntil([&] { return n->node->stopped(); }));
  }

  static std::string Addr(TestNode* n) {
    return "127.0.0.1:" + std::to_string(n->node->listen_port());
  }

  // Runs the loop until PRED() or TIMEOUT. Returns PRED().
  bool RunUntil(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!pred()) {
      if (absl::Now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }
  // Runs the loop for D (to check that something does NOT happen).
  void RunFor(absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    RunUntil([&] { return absl::Now() >= end; }, d + absl::Seconds(1));
  }

  // A - B - C: B listens, A and C dial it.
  void MakeLine() {
    b_ = Add(Opts("b", 2));
    auto oa = Opts("a", 1);
    oa.peers = {{Addr(b_), "b"}};
    a_ = Add(oa);
    auto oc = Opts("c", 3);
    oc.peers = {{Addr(b_), ""}};
    c_ = Add(oc);
    // Routing first, then the (deferred) handler calls.
    ASSERT_TRUE(RunUntil([&] {
      return (*a_)->Reachable(3) && (*c_)->Reachable(1) && a_->rec.reachable[3] &&
             c_->rec.reachable[1];
    }));
  }

  // Sends PAYLOAD on LINK of N the way the session layer must: waiting
  // while the link is congested.
  bool SendPaced(TestNode* n, LinkId link, std::string payload) {
    if (!RunUntil([&] { return !(*n)->Congested(link); })) return false;
    return (*n)->SendData(link, std::move(payload));
  }

  uv_loop_t loop_;
  uv_timer_t wake_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  TestNode* a_ = nullptr;
  TestNode* b_ = nullptr;
  TestNode* c_ = nullptr;
};

// ---------------------------------------------------------------------------
// Convergence, routing, data.

TEST_F(MeshTest, PeersChangeWhileRunning) {
  TestNode* b = Add(Opts("b", 2));
  TestNode* a = Add(Opts("a", 1));  // no peers: nobody dials
  EXPECT_TRUE((*a)->Dialers().empty());
  // Added: dialed at once.
  ASSERT_TRUE((*a)->SetPeers({{Addr(b), "b"}}).ok());
  ASSERT_TRUE(RunUntil([&] { return (*a)->Reachable(2); }));
  ASSERT_EQ((*a)->Dialers().size(), 1u);
  EXPECT_EQ((*a)->Dialers()[0].state, "up");
  // Refused, and nothing changes: a bad address, an address twice, our name.
  EXPECT_EQ((*a)->SetPeers({{"no-port", ""}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->SetPeers({{Addr(b), ""}, {Addr(b), ""}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->SetPeers({{Addr(b), "a"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->Dialers().size(), 1u);
  // Removed: no longer listed; the link that is up stays ...
  ASSERT_TRUE((*a)->SetPeers({}).ok());
  EXPECT_TRUE((*a)->Dialers().empty());
  EXPECT_TRUE((*a)->Reachable(2));
  // ... until it ends, and then nobody dials it again (a redial would come
  // within the 10-100 ms backoff).
  const std::string b_addr = Addr(b);
  StopAndWait(b);
  ASSERT_TRUE(RunUntil([&] { return !(*a)->Reachable(2); }));
  const uint64_t dials = (*a)->counters().dials;
  RunFor(absl::Milliseconds(400));
  EXPECT_EQ((*a)->counters().dials, dials);
  // Added back (another node at another address): dialed again.
  TestNode* c = Add(Opts("c", 3));
  ASSERT_TRUE((*a)->SetPeers({{Addr(c), ""}, {b_addr, ""}}).ok());
  ASSERT_TRUE(RunUntil([&] { return (*a)->Reachable(3); }));
  EXPECT_EQ((*a)->Dialers().size(), 2u);
  // Removed peers' dialers are freed, however many come and go, waiting,
  // connecting or resolving a name at the time.
  for (int i = 0; i < 50; i++) {
    const std::string port = std::to_string(1 + i);
    const std::vector<MeshNode::Peer> peers = {
        {Addr(c), ""}, {"127.0.0.1:" + port, ""}, {"localhost:" + port, ""}};
    ASSERT_TRUE((*a)->SetPeers(peers).ok());
    if (i % 2 == 0) RunFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE((*a)->SetPeers({{Addr(c), ""}}).ok());
  EXPECT_TRUE(RunUntil([&] { return (*a)->DialersHeld() == 1; })) << (*a)->DialersHeld();
  EXPECT_TRUE((*a)->Reachable(3));
}

TEST_F(MeshTest, LineConverges) {
  MakeLine();
  MeshNode& a = *a_->node;
  const LinkId ab = a.NextHop(2);
  ASSERT_NE(ab, 0u);
  EXPECT_EQ(a.NextHop(3), ab);  // C through B
  EXPECT_EQ(a.PeerOf(ab), 2u);
  EXPECT_EQ(a.NextHop(1), 0u);  // self
  EXPECT_EQ(a.Resolve("c"), std::optional<NodeId>(3));
  EXPECT_EQ(a.Resolve("a"), std::optional<NodeId>(1));
  EXPECT_EQ(a.Resolve("nobody"), std::nullopt);
  // Handler saw it all.
  EXPECT_EQ(a_->rec.ups.size(), 1u);
  EXPECT_TRUE(a_->rec.reachable[2]);
  EXPECT_TRUE(a_->rec.reachable[3]);
  EXPECT_EQ((*b_)->Links().size(), 2u);
  // Introspection.
  bool found = false;
  for (const NodeInfo& n : a.Routes()) {
    if (n.id == 3) {
      found = true;
      EXPECT_EQ(n.name, "c");
      EXPECT_EQ(n.hops, 2u);
      EXPECT_EQ(n.cost, 2u);
      EXPECT_EQ(n.next_hop_node, 2u);
      EXPECT_EQ(n.next_hop_link, ab);
      EXPECT_GT(n.lsa_seq, 0u);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(a.Nodes().size(), 3u);
  const std::vector<LinkInfo> links = a.Links();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].peer_name, "b");
  EXPECT_EQ(links[0].state, LinkState::kEstablished);
  EXPECT_TRUE(links[0].dialed);
  EXPECT_EQ(a.Dialers().at(0).state, "up");
  EXPECT_EQ(a.counters().handshakes_ok, 1u);
  // Heartbeats measure a round trip.
  ASSERT_TRUE(RunUntil([&] { return a.Links()[0].rtt > absl::ZeroDuration(); }));
  EXPECT_LT(a.Links()[0].rtt, absl::Seconds(1));
}

TEST_F(MeshTest, DataArrivesWithExactBytesInOrder) {
  // Made before the mesh runs: the loop must not stall (all nodes share it).
  std::vector<std::string> sent;
  for (int i = 0; i < 300; i++) {
    // Sizes from 0 to ~200 KB, each with its own content.
    const size_t len = (i % 7 == 0) ? 0 : static_cast<size_t>((i * 7919) % 200000);
    std::string p(len, static_cast<char>(i));
    for (size_t k = 0; k < len; k += 4093) p[k] = static_cast<char>(k * 31 + i);
    sent.push_back(std::move(p));
  }
  MakeLine();
  MeshNode& a = *a_->node;
  const LinkId ab = a.NextHop(2);
  for (const std::string& p : sent) ASSERT_TRUE(SendPaced(a_, ab, p));
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == sent.size(); }));
  for (size_t i = 0; i < sent.size(); i++) {
    ASSERT_EQ(b_->rec.data[i].payload, sent[i]) << i;
    EXPECT_EQ(b_->rec.data[i].node, 1u);
  }
  // And back the other way, on B's link to A.
  const LinkId ba = b_->rec.data[0].link;
  EXPECT_EQ((*b_)->PeerOf(ba), 1u);
  ASSERT_TRUE((*b_)->SendData(ba, "pong"));
  ASSERT_TRUE(RunUntil([&] { return a_->rec.data.size() == 1; }));
  EXPECT_EQ(a_->rec.data[0].payload, "pong");
  EXPECT_EQ(a_->rec.data[0].link, ab);
  EXPECT_EQ(a.counters().data_frames_out, sent.size());
}

TEST_F(MeshTest, SendDataRefusals) {
  MakeLine();
  MeshNode& a = *a_->node;
  EXPECT_FALSE(a.SendData(12345, "x"));                               // no such link
  EXPECT_FALSE(a.SendData(a.NextHop(2), std::string((1 << 20) + 1, 'x')));  // too big
  EXPECT_TRUE(a.SendData(a.NextHop(2), std::string(1 << 20, 'x')));   // exactly the limit
  EXPECT_EQ(a.counters().data_send_refused, 2u);
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 1; }));
  EXPECT_EQ(b_->rec.data[0].payload.size(), size_t{1} << 20);
}

TEST_F(MeshTest, PingAndTraceThroughTheMiddle) {
  MakeLine();
  std::optional<absl::StatusOr<absl::Duration>> ping;
  (*a_)->Ping(3, [&](absl::StatusOr<absl::Duration> r) { ping = r; }, absl::Seconds(5));
  EXPECT_FALSE(ping.has_value());  // never called from inside Ping()
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }));
  ASSERT_TRUE(ping->ok()) << ping->status();
  EXPECT_GT(**ping, absl::ZeroDuration());
  EXPECT_LT(**ping, absl::Seconds(5));

  std::optional<absl::StatusOr<std::vector<TraceHop>>> trace;
  (*a_)->Trace(3, [&](absl::StatusOr<std::vector<TraceHop>> r) { trace = r; }, absl::Seconds(5));
  ASSERT_TRUE(RunUntil([&] { return trace.has_value(); }));
  ASSERT_TRUE(trace->ok()) << trace->status();
  ASSERT_EQ((*trace)->size(), 2u);
  EXPECT_EQ((**trace)[0].node, 2u);
  EXPECT_EQ((**trace)[0].name, "b");
  EXPECT_EQ((**trace)[1].node, 3u);
  EXPECT_EQ((**trace)[1].name, "c");
  EXPECT_GT((**trace)[1].rtt, absl::ZeroDuration());
  EXPECT_GE((*b_)->counters().probes_forwarded, 2u);

  // To self, and to nowhere.
  std::optional<absl::StatusOr<absl::Duration>> self, nowhere;
  (*a_)->Ping(1, [&](absl::StatusOr<absl::Duration> r) { self = r; }, absl::Seconds(1));
  (*a_)->Ping(99, [&](absl::StatusOr<absl::Duration> r) { nowhere = r; }, absl::Seconds(1));
  ASSERT_TRUE(RunUntil([&] { return self.has_value() && nowhere.has_value(); }));
  EXPECT_TRUE(self->ok());
  EXPECT_EQ(nowhere->status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MeshTest, PingTimesOutOnAHungNode) {
  MakeLine();
  (*c_)->SetFrozenForTest(true);
  std::optional<absl::StatusOr<absl::Duration>> ping;
  (*a_)->Ping(3, [&](absl::StatusOr<absl::Duration> r) { ping = r; }, absl::Milliseconds(50));
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }));
  EXPECT_EQ(ping->status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*a_)->counters().probe_timeouts, 1u);
}

// ---------------------------------------------------------------------------
// Failure detection and recovery.

TEST_F(MeshTest, StoppingTheMiddleMakesTheFarEndUnreachableAndRestartReconverges) {
  MakeLine();
  const int b_port = (*b_)->listen_port();
  const absl::Time t0 = absl::Now();
  StopAndWait(b_);
  ASSERT_TRUE(RunUntil([&] { return !(*a_)->Reachable(3) && !(*c_)->Reachable(1); },
                       absl::Milliseconds(kDeadMs * 3)));
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(kDeadMs * 3));
  EXPECT_EQ((*a_)->NextHop(3), 0u);
  EXPECT_EQ((*a_)->Resolve("c"), std::nullopt);
  ASSERT_TRUE(RunUntil([&] { return a_->rec.reachable[3] == false && a_->rec.downs.size() == 1; }));
  // B's handler heard about everything going away.
  EXPECT_EQ(b_->rec.downs.size(), 2u);
  EXPECT_TRUE(b_->rec.up.empty());
  EXPECT_FALSE(b_->rec.reachable[1]);

  // B comes back on the same port: A and C redial it.
  auto ob = Opts("b", 2);
  ob.listen_address = "127.0.0.1:" + std::to_string(b_port);
  TestNode* b2 = Add(ob);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(3) && (*c_)->Reachable(1); }));
  EXPECT_EQ((*a_)->NextHop(3), (*a_)->NextHop(2));
  ASSERT_TRUE(RunUntil([&] { return (*b2)->Reachable(1) && (*b2)->Reachable(3); }));
}

TEST_F(MeshTest, HungNodeIsDeclaredDeadWithinTheDeadInterval) {
  MakeLine();
  (*b_)->SetFrozenForTest(true);
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(RunUntil([&] { return !(*a_)->Reachable(3); }, absl::Seconds(5)));
  const absl::Duration took = absl::Now() - t0;
  EXPECT_GE(took, absl::Milliseconds(kDeadMs * 8 / 10));
  EXPECT_LE(took, absl::Milliseconds(kDeadMs * 3)) << took;
  EXPECT_GE((*a_)->counters().links_closed[static_cast<size_t>(LinkCloseReason::kDead)], 1u);
  EXPECT_FALSE((*a_)->Reachable(2));
  // It wakes up: it sees its links gone, everyone redials, the mesh heals.
  (*b_)->SetFrozenForTest(false);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(3) && (*c_)->Reachable(1); }));
}

TEST_F(MeshTest, AdvertsAreRefreshedAndTheDeadPurged) {
  b_ = Add([] {
    auto o = Opts("b", 2);
    o.lsa_refresh_interval_ms = 100;
    o.lsa_max_age_ms = 600;
    return o;
  }());
  auto oa = Opts("a", 1);
  oa.lsa_refresh_interval_ms = 100;
  oa.lsa_max_age_ms = 600;
  oa.peers = {{Addr(b_), ""}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(2); }));
  auto seq_of = [&](NodeId id) -> uint64_t {
    for (const NodeInfo& n : (*a_)->Nodes()) {
      if (n.id == id) return n.lsa_seq;
    }
    return 0;
  };
  const uint64_t seq = seq_of(2);
  // Live adverts are refreshed (and so never purged).
  ASSERT_TRUE(RunUntil([&] { return seq_of(2) > seq; }));
  RunFor(absl::Milliseconds(900));
  EXPECT_TRUE((*a_)->Reachable(2));
  EXPECT_EQ((*a_)->counters().lsas_purged, 0u);
  // B goes; its advert stays (unreachable) until max age, then is purged.
  StopAndWait(b_);
  ASSERT_TRUE(RunUntil([&] { return !(*a_)->Reachable(2); }));
  EXPECT_NE(seq_of(2), 0u);
  ASSERT_TRUE(RunUntil([&] { return seq_of(2) == 0; }));
  EXPECT_EQ((*a_)->counters().lsas_purged, 1u);
  EXPECT_EQ((*a_)->Nodes().size(), 1u);
}

TEST_F(MeshTest, StopFailsPendingRequestsAndReportsEverythingDown) {
  MakeLine();
  (*c_)->SetFrozenForTest(true);
  std::optional<absl::StatusOr<std::vector<TraceHop>>> trace;
  (*a_)->Trace(3, [&](absl::StatusOr<std::vector<TraceHop>> r) { trace = r; }, absl::Seconds(10));
  StopAndWait(a_);
  ASSERT_TRUE(trace.has_value());
  EXPECT_EQ(trace->status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(a_->rec.up.empty());
  EXPECT_FALSE(a_->rec.reachable[2]);
  EXPECT_FALSE(a_->rec.reachable[3]);
  // After stopped(): requests fail at once.
  std::optional<absl::StatusOr<absl::Duration>> ping;
  (*a_)->Ping(2, [&](absl::StatusOr<absl::Duration> r) { ping = r; }, absl::Seconds(1));
  ASSERT_TRUE(ping.has_value());
  EXPECT_EQ(ping->status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// Authentication and identity.

TEST_F(MeshTest, WrongKeyNeverJoins) {
  MakeLine();
  auto od = Opts("d", 4);
  od.cluster_key = "some-other-cluster-key!";
  od.peers = {{Addr(b_), ""}};
  TestNode* d = Add(od);
  const size_t kWrongKey = static_cast<size_t>(HandshakeFailure::kWrongKey);
  ASSERT_TRUE(RunUntil([&] {
    return (*b_)->counters().handshakes_failed[kWrongKey] >= 2 &&
           (*d)->counters().handshakes_failed[kWrongKey] >= 2;
  }));
  EXPECT_FALSE((*a_)->Reachable(4));
  EXPECT_EQ((*b_)->Resolve("d"), std::nullopt);
  for (const NodeInfo& n : (*b_)->Nodes()) EXPECT_NE(n.id, 4u);
  EXPECT_TRUE(d->rec.ups.empty());
  EXPECT_EQ((*b_)->Links().size() >= 2, true);
  // It keeps trying, with backoff.
  EXPECT_GE((*d)->Dialers().at(0).consecutive_failures, 2u);
  EXPECT_FALSE((*d)->Dialers().at(0).last_error.empty());
}

TEST_F(MeshTest, ClashingNameIsRefused) {
  MakeLine();
  // "a" again, with another id, dials B.
  auto oe = Opts("a", 5);
  oe.peers = {{Addr(b_), ""}};
  TestNode* e = Add(oe);
  const size_t kClash = static_cast<size_t>(HandshakeFailure::kNameClash);
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().handshakes_failed[kClash] >= 1; }));
  ASSERT_TRUE(RunUntil([&] {
    return (*e)->counters().handshakes_failed[static_cast<size_t>(HandshakeFailure::kPeerRefused)] >= 1;
  }));
  EXPECT_EQ((*c_)->Resolve("a"), std::optional<NodeId>(1));
  EXPECT_TRUE(e->rec.ups.empty());
  // Id 1 under another name is refused too, also by a node not directly
  // linked to node 1 (C knows it from the link-state database).
  auto of = Opts("f", 1);
  of.peers = {{Addr(c_), ""}};
  TestNode* f = Add(of);
  ASSERT_TRUE(RunUntil([&] { return (*c_)->counters().handshakes_failed[kClash] >= 1; }));
  EXPECT_TRUE(f->rec.ups.empty());
  EXPECT_EQ((*b_)->Resolve("f"), std::nullopt);
}

TEST_F(MeshTest, UnexpectedPeerNameIsRefused) {
  b_ = Add(Opts("b", 2));
  auto oa = Opts("a", 1);
  oa.peers = {{Addr(b_), "not-b"}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] {
    return (*a_)->counters().handshakes_failed[static_cast<size_t>(HandshakeFailure::kUnexpectedName)] >= 1;
  }));
  EXPECT_FALSE((*a_)->Reachable(2));
}

TEST_F(MeshTest, DialingItselfIsRefused) {
  auto oa = Opts("a", 1);
  a_ = Add(oa);
  // A node cannot know its ephemeral port in advance: a second node object
  // with the same identity plays "itself".
  auto oa2 = Opts("a", 1);
  oa2.listen_address = "";
  oa2.peers = {{Addr(a_), ""}};
  TestNode* a2 = Add(oa2);
  ASSERT_TRUE(RunUntil([&] {
    return (*a_)->counters().handshakes_failed[static_cast<size_t>(HandshakeFailure::kSelf)] >= 1 &&
           (*a2)->counters().handshakes_failed[static_cast<size_t>(HandshakeFailure::kSelf)] >= 1;
  }));
  EXPECT_TRUE(a_->rec.ups.empty());
}

// A port that was free a moment ago (loopback; good enough for a test).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Timers changed while running: the dead interval applies to links that
// are up, the backoff to dialers already waiting.
TEST_F(MeshTest, TimersChangeWhileRunning) {
  MakeLine();
  const MeshNode::Timers slow{kHeartbeatMs, 20 * kDeadMs, 10, 100};
  EXPECT_EQ((*a_)->SetTimers({kHeartbeatMs, 2 * kHeartbeatMs, 10, 100}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a_)->SetTimers({kHeartbeatMs, kDeadMs, 100, 10}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*a_)->SetTimers(slow).ok());
  // A hung b is not declared dead within 3 of the old dead intervals ...
  (*b_)->SetFrozenForTest(true);
  RunFor(absl::Milliseconds(3 * kDeadMs));
  EXPECT_TRUE((*a_)->Reachable(2));
  // ... and is within about one of the new, shorter one.
  ASSERT_TRUE((*a_)->SetTimers({kHeartbeatMs, kDeadMs, 10, 100}).ok());
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(RunUntil([&] { return !(*a_)->Reachable(2); }, absl::Seconds(5)));
  EXPECT_LE(absl::Now() - t0, absl::Milliseconds(kDeadMs * 3));
  (*b_)->SetFrozenForTest(false);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(3); }));

  // A peer that is not there, redialed every 10-100 ms; a long backoff
  // slows that down, and shortening it brings the waiting dialer back.
  TestNode* d = Add([] {
    auto o = Opts("d", 4);
    o.peers = {{"127.0.0.1:" + std::to_string(FreePort()), ""}};
    return o;
  }());
  ASSERT_TRUE(RunUntil([&] { return (*d)->counters().dials >= 3; }));
  ASSERT_TRUE((*d)->SetTimers({kHeartbeatMs, kDeadMs, 5000, 10000}).ok());
  RunFor(absl::Milliseconds(250));  // the dial already scheduled (<= 100 ms)
  const uint64_t dials = (*d)->counters().dials;
  RunFor(absl::Milliseconds(500));
  EXPECT_EQ((*d)->counters().dials, dials);
  EXPECT_GE((*d)->Dialers().at(0).backoff, absl::Milliseconds(5000));
  ASSERT_TRUE((*d)->SetTimers({kHeartbeatMs, kDeadMs, 10, 100}).ok());
  EXPECT_TRUE(RunUntil([&] { return (*d)->counters().dials > dials; }, absl::Seconds(1)));
}

TEST_F(MeshTest, NodesDialingEachOtherKeepOneLink) {
  // Both listen and both dial: one link survives, the one dialed by the
  // lower id, on both sides.
  const int pa = FreePort();
  const int pb = FreePort();
  auto ox = Opts("x", 21);
  ox.listen_address = "127.0.0.1:" + std::to_string(pa);
  ox.peers = {{"127.0.0.1:" + std::to_string(pb), "y"}};
  auto oy = Opts("y", 22);
  oy.listen_address = "127.0.0.1:" + std::to_string(pb);
  oy.peers = {{"127.0.0.1:" + std::to_string(pa), "x"}};
  TestNode* x = Add(ox);
  TestNode* y = Add(oy);
  ASSERT_TRUE(RunUntil([&] { return (*x)->Reachable(22) && (*y)->Reachable(21); }));
  // Let both dialers have their say, then check it settled.
  RunFor(absl::Milliseconds(300));
  auto established = [](TestNode* n) {
    std::vector<LinkInfo> out;
    for (const LinkInfo& l : (*n)->Links()) {
      if (l.state == LinkState::kEstablished) out.push_back(l);
    }
    return out;
  };
  const auto lx = established(x);
  const auto ly = established(y);
  ASSERT_EQ(lx.size(), 1u);
  ASSERT_EQ(ly.size(), 1u);
  EXPECT_TRUE(lx[0].dialed);   // x has the lower id: its connection wins
  EXPECT_FALSE(ly[0].dialed);
  EXPECT_EQ(lx[0].local_address, ly[0].remote_address);  // the same TCP connection
  const uint64_t ups = (*x)->counters().links_up;
  RunFor(absl::Milliseconds(300));
  EXPECT_EQ((*x)->counters().links_up, ups) << "links keep flapping";
  EXPECT_EQ((*y)->Dialers().at(0).state, "idle");
}

// ---------------------------------------------------------------------------
// Backpressure.

TEST_F(MeshTest, CongestionThenWritable) {
  auto ob = Opts("b", 2);
  ob.max_frame_bytes = 64 * 1024;
  ob.max_link_queued_bytes = 256 * 1024;
  b_ = Add(ob);
  auto oa = Opts("a", 1);
  oa.max_frame_bytes = 64 * 1024;
  oa.max_link_queued_bytes = 256 * 1024;
  oa.peers = {{Addr(b_), ""}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(2) && (*b_)->Reachable(1); }));
  const LinkId ab = (*a_)->NextHop(2);
  const LinkId ba = (*b_)->NextHop(1);
  // B stops reading; A sends until the link says it is congested (the
  // socket buffers fill first).
  (*b_)->PauseRead(ba);
  uint64_t sent = 0;
  std::string chunk(60 * 1024, 'q');
  ASSERT_TRUE(RunUntil([&] {
    while (!(*a_)->Congested(ab)) {
      if (!(*a_)->SendData(ab, chunk)) return false;
      sent++;
      if ((*a_)->Links()[0].queued_bytes > 0) break;  // let the loop write
    }
    return (*a_)->Congested(ab);
  }));
  EXPECT_TRUE(a_->rec.writable.empty());
  // Paused for longer than the dead interval: still alive (bytes are
  // waiting in its socket).
  RunFor(absl::Milliseconds(kDeadMs * 2));
  EXPECT_TRUE((*a_)->Reachable(2));
  EXPECT_EQ(a_->rec.downs.size(), 0u);
  EXPECT_TRUE((*a_)->Congested(ab));
  // B reads again: A drains below half and hears OnLinkWritable.
  (*b_)->ResumeRead(ba);
  ASSERT_TRUE(RunUntil([&] { return !a_->rec.writable.empty(); }));
  EXPECT_EQ(a_->rec.writable[0], ab);
  EXPECT_FALSE((*a_)->Congested(ab));
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == sent; }));
  for (const auto& d : b_->rec.data) ASSERT_EQ(d.payload, chunk);
}

TEST_F(MeshTest, LargeDataFramesAreSplitWhereTheHandlerSays) {
  MakeLine();
  const LinkId ab = (*a_)->NextHop(2);
  b_->rec.split_len = 20000;
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i * 31 + i / 256);
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE((*a_)->SendData(ab, big));
    ASSERT_TRUE((*a_)->SendData(ab, "small"));
  }
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 20; }));
  EXPECT_EQ(b_->rec.splits, 10);
  for (size_t i = 0; i < 20; i++) {
    ASSERT_EQ(b_->rec.data[i].payload, i % 2 == 0 ? big : "small") << i;
  }
  // The handler saw the start of each (what came with its header).
  for (const std::string& first : b_->rec.split_firsts) {
    EXPECT_EQ(first, big.substr(0, first.size()));
  }
}

TEST_F(MeshTest, NothingIsDeliveredWhilePaused) {
  MakeLine();
  const LinkId ab = (*a_)->NextHop(2);
  // Pausing inside OnData holds even a frame decoded by the same read (an
  // empty frame right behind completes together with the first).
  b_->rec.on_data = [&](LinkId link, NodeId) {
    if (b_->rec.data.size() == 1) (*b_)->PauseRead(link);
  };
  ASSERT_TRUE((*a_)->SendData(ab, std::string(100, 'a')));
  ASSERT_TRUE((*a_)->SendData(ab, ""));
  ASSERT_TRUE((*a_)->SendData(ab, "third"));
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 1; }));
  RunFor(absl::Milliseconds(50));
  EXPECT_EQ(b_->rec.data.size(), 1u);
  const LinkId ba = b_->rec.data[0].link;
  (*b_)->ResumeRead(ba);
  EXPECT_EQ(b_->rec.data.size(), 1u);  // not from inside ResumeRead
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 3; }));
  EXPECT_EQ(b_->rec.data[1].payload, "");
  EXPECT_EQ(b_->rec.data[2].payload, "third");
}

TEST_F(MeshTest, HardCapClosesTheLinkInsteadOfGrowing) {
  auto ob = Opts("b", 2);
  ob.max_frame_bytes = 64 * 1024;
  ob.max_link_queued_bytes = 128 * 1024;
  b_ = Add(ob);
  auto oa = Opts("a", 1);
  oa.max_frame_bytes = 64 * 1024;
  oa.max_link_queued_bytes = 128 * 1024;
  oa.peers = {{Addr(b_), ""}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(2); }));
  const LinkId ab = (*a_)->NextHop(2);
  // Ignoring Congested(): the 4th 64 KiB frame queued without a loop turn
  // goes over 2 x 128 KiB, and the link goes rather than the memory.
  std::string chunk(64 * 1024, 'z');
  int accepted = 0;
  for (int i = 0; i < 10; i++) {
    if ((*a_)->SendData(ab, chunk)) accepted++;
  }
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ((*a_)->counters().links_closed[static_cast<size_t>(LinkCloseReason::kOverflow)], 1u);
  EXPECT_GE((*a_)->counters().frames_dropped, 4u);
  EXPECT_EQ((*a_)->NextHop(2), 0u);
  ASSERT_TRUE(RunUntil([&] { return a_->rec.downs.size() == 1; }));
  // It comes back (A redials).
  ASSERT_TRUE(RunUntil([&] { return (*a_)->NextHop(2) != 0; }));
}

// ---------------------------------------------------------------------------
// IPv6 and host names.

bool HaveIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  struct sockaddr_in6 a = {};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

TEST_F(MeshTest, Ipv6) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  auto ob = Opts("b", 2);
  ob.listen_address = "[::1]:0";
  b_ = Add(ob);
  auto oa = Opts("a", 1);
  oa.listen_address = "";
  oa.peers = {{"[::1]:" + std::to_string((*b_)->listen_port()), "b"}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(2); }));
  EXPECT_EQ((*a_)->Links()[0].remote_address, "[::1]:" + std::to_string((*b_)->listen_port()));
}

TEST_F(MeshTest, HostName) {
  auto ob = Opts("b", 2);
  ob.listen_address = HaveIpv6Loopback() ? "[::]:0" : "0.0.0.0:0";
  b_ = Add(ob);
  auto oa = Opts("a", 1);
  oa.listen_address = "";
  oa.peers = {{"localhost:" + std::to_string((*b_)->listen_port()), "b"}};
  a_ = Add(oa);
  ASSERT_TRUE(RunUntil([&] { return (*a_)->Reachable(2); }));
}

TEST_F(MeshTest, BadOptions) {
  Recorder rec;
  auto bad = [&](std::function<void(MeshNode::Options&)> edit) {
    auto o = Opts("a", 1);
    edit(o);
    MeshNode n(&loop_, o, &rec);
    return n.Start().code();
  };
  EXPECT_EQ(bad([](auto& o) { o.node_name = "a b"; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.node_id = 0; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.cluster_key = "short"; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.dead_interval_ms = 2 * o.heartbeat_interval_ms; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.listen_address = "nope"; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.peers = {{"1.2.3.4:0", ""}}; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.max_link_queued_bytes = 1000; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.peers = {{"1.2.3.4:5", "a"}}; }), absl::StatusCode::kInvalidArgument);
  // A port in use.
  b_ = Add(Opts("b", 2));
  EXPECT_EQ(bad([&](auto& o) { o.listen_address = Addr(b_); }), absl::StatusCode::kUnavailable);
}

// ---------------------------------------------------------------------------
// A scripted peer that misbehaves.

class RawPeer {
 public:
  explicit RawPeer(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<struct sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawPeer() { close(fd_); }

  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;  // the other side is gone; fine for these tests
      at += static_cast<size_t>(n);
    }
  }
  void SendFrame(FrameType t, const std::string& payload) { Send(mesh::EncodeFrame(t, payload)); }
  // Reads whatever is there (never blocks).
  void Pump() {
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        closed_ = true;
        return;
      }
      if (n < 0) return;
      if (dec_.Feed(std::string_view(buf, static_cast<size_t>(n)), &frames_) != ProtocolError::kNone) {
        closed_ = true;
        return;
      }
    }
  }
  bool closed() {
    Pump();
    return closed_;
  }
  // The first received frame of TYPE, removed; nullopt if none yet.
  std::optional<Frame> Take(FrameType t) {
    Pump();
    for (size_t i = 0; i < frames_.size(); i++) {
      if (frames_[i].type == t) {
        Frame f = std::move(frames_[i]);
        frames_.erase(frames_.begin() + static_cast<long>(i));
        return f;
      }
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  mesh::FrameDecoder dec_{1 << 20};
  std::vector<Frame> frames_;
};

class MisbehaviourTest : public MeshTest {
 protected:
  void SetUp() override {
    MeshTest::SetUp();
    auto ob = Opts("b", 2);
    ob.max_nodes = 4;
    ob.handshake_timeout_ms = 200;
    b_ = Add(ob);
  }
  uint64_t Handshakes(HandshakeFailure f) {
    return (*b_)->counters().handshakes_failed[static_cast<size_t>(f)];
  }
  uint64_t Errors(ProtocolError e) {
    return (*b_)->counters().protocol_errors[static_cast<size_t>(e)];
  }
  // Runs the whole handshake as node ID/NAME, by hand.
  // AFTER_READY is sent in the same write as the Ready frame.
  bool Join(RawPeer* p, NodeId id, const std::string& name, const std::string& after_ready = "") {
    mesh::Nonce nonce;
    mesh::RandomNonce(&nonce);
    mesh::Handshake hs(mesh::Handshake::Role::kDialer, id, name, kKey, 1 << 20, nonce);
    p->SendFrame(FrameType::kHello, hs.hello());
    std::optional<Frame> hello, auth, ready;
    if (!RunUntil([&] { return (hello = p->Take(FrameType::kHello)).has_value(); })) return false;
    std::string my_auth;
    if (hs.OnPeerHello(hello->payload, &my_auth) != HandshakeFailure::kNone) return false;
    p->SendFrame(FrameType::kAuth, my_auth);
    if (!RunUntil([&] { return (auth = p->Take(FrameType::kAuth)).has_value(); })) return false;
    if (hs.OnPeerAuth(auth->payload) != HandshakeFailure::kNone) return false;
    p->Send(mesh::EncodeFrame(FrameType::kReady, "") + after_ready);
    if (!RunUntil([&] { return (ready = p->Take(FrameType::kReady)).has_value(); })) return false;
    return RunUntil([&] { return (*b_)->PeerOf(LinkOf(id)) == id; });
  }
  LinkId LinkOf(NodeId peer) {
    for (const LinkInfo& l : (*b_)->Links()) {
      if (l.peer_id == peer && l.state == LinkState::kEstablished) return l.id;
    }
    return 0;
  }
  static std::string Advert(NodeId origin, const std::string& name, uint64_t seq,
                            std::vector<NodeId> nbrs) {
    mesh::Lsa lsa{origin, name, seq, {}};
    for (NodeId n : nbrs) lsa.neighbors.push_back({n, 1});
    return mesh::EncodeLsa(lsa);
  }
};

TEST_F(MisbehaviourTest, GarbageIsRefused) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(p.connected());
  p.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // 'GET ' is a 542 MB length
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kFrameTooLarge), 1u);
  EXPECT_EQ(Handshakes(HandshakeFailure::kBadHello), 1u);
}

TEST_F(MisbehaviourTest, UnknownFrameType) {
  RawPeer p((*b_)->listen_port());
  p.Send(std::string("\0\0\0\0\x63", 5));
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kUnknownFrameType), 1u);
}

TEST_F(MisbehaviourTest, DataBeforeTheHandshake) {
  RawPeer p((*b_)->listen_port());
  p.SendFrame(FrameType::kData, "sneaky");
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kUnexpectedFrame), 1u);
  EXPECT_TRUE(b_->rec.data.empty());
  // The refusal says why before closing.
  std::optional<Frame> bye = p.Take(FrameType::kGoodbye);
  ASSERT_TRUE(bye.has_value());
  std::string reason;
  ASSERT_TRUE(mesh::ParseGoodbye(bye->payload, &reason));
  EXPECT_EQ(reason, "bad_hello");
}

TEST_F(MisbehaviourTest, BadHello) {
  RawPeer p((*b_)->listen_port());
  p.SendFrame(FrameType::kHello, "\x08\x01\x10");  // truncated protobuf
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Handshakes(HandshakeFailure::kBadHello), 1u);
}

TEST_F(MisbehaviourTest, SilentConnectionTimesOut) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }, absl::Seconds(3)));
  EXPECT_EQ(Handshakes(HandshakeFailure::kTimeout), 1u);
}

TEST_F(MisbehaviourTest, PendingHandshakesAreBounded) {
  // B takes 64 pending handshakes by default; the 65th is refused at once.
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 65; i++) peers.push_back(std::make_unique<RawPeer>((*b_)->listen_port()));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().connections_refused == 1; }));
  EXPECT_EQ((*b_)->counters().connections_accepted, 64u);
}

TEST_F(MisbehaviourTest, JoinsByHandAndSendsData) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kData, "hello from a script");
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 1; }));
  EXPECT_EQ(b_->rec.data[0].payload, "hello from a script");
  EXPECT_EQ(b_->rec.data[0].node, 7u);
  // B sent its advert, and heartbeats come.
  ASSERT_TRUE(RunUntil([&] { return p.Take(FrameType::kLsa).has_value(); }));
  ASSERT_TRUE(RunUntil([&] { return p.Take(FrameType::kHeartbeat).has_value(); }));
}

TEST_F(MisbehaviourTest, DataRightBehindReadyComesAfterLinkUp) {
  // The Recorder checks that OnData never precedes OnLinkUp.
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake", mesh::EncodeFrame(FrameType::kData, "first")));
  ASSERT_TRUE(RunUntil([&] { return b_->rec.data.size() == 1; }));
  EXPECT_EQ(b_->rec.data[0].payload, "first");
  EXPECT_EQ(b_->rec.ups.size(), 1u);
}

TEST_F(MisbehaviourTest, SecondHelloAfterTheHandshake) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kHello, "x");
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kUnexpectedFrame), 1u);
  ASSERT_TRUE(RunUntil([&] { return b_->rec.downs.size() == 1; }));
}

TEST_F(MisbehaviourTest, OversizedFrameAfterTheHandshake) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  char h[mesh::kFrameHeaderBytes];
  mesh::EncodeFrameHeader(FrameType::kData, (1u << 20) + 1, h);
  p.Send(std::string(h, sizeof h));
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kFrameTooLarge), 1u);
}

TEST_F(MisbehaviourTest, BadAdvertAndBadHeartbeat) {
  {
    RawPeer p((*b_)->listen_port());
    ASSERT_TRUE(Join(&p, 7, "fake"));
    p.SendFrame(FrameType::kLsa, Advert(8, "x", 1, {8}));  // lists itself
    ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
    EXPECT_EQ(Errors(ProtocolError::kBadMessage), 1u);
  }
  {
    RawPeer p((*b_)->listen_port());
    ASSERT_TRUE(Join(&p, 7, "fake"));
    p.SendFrame(FrameType::kHeartbeat, "\xff\xff\xff");
    ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
    EXPECT_EQ(Errors(ProtocolError::kBadMessage), 2u);
  }
}

TEST_F(MisbehaviourTest, AdvertForThePeerUnderAnotherName) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kLsa, Advert(7, "someone-else", 1, {2}));
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kForgedAdvert), 1u);
}

TEST_F(MisbehaviourTest, ForgedAdvertsAboutTheNodeItself) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  const uint64_t huge = uint64_t{1} << 62;
  // One newer advert about B: B advertises past it (a stale copy from an
  // earlier run looks just like this) ...
  p.SendFrame(FrameType::kLsa, Advert(2, "b", huge, {}));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().self_lsa_conflicts == 1; }));
  ASSERT_TRUE(RunUntil([&] {
    for (const NodeInfo& n : (*b_)->Nodes()) {
      if (n.self) return n.lsa_seq > huge;
    }
    return false;
  }));
  EXPECT_FALSE(p.closed());
  // ... but a peer that keeps at it is cut off.
  for (int i = 1; i <= 4; i++) p.SendFrame(FrameType::kLsa, Advert(2, "b", huge * 2 + i, {}));
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kForgedAdvert), 1u);
}

TEST_F(MisbehaviourTest, DatabaseIsBoundedByMaxNodes) {
  // max_nodes is 4 on B: b, fake, and two more fit.
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kLsa, Advert(7, "fake", 10, {2, 8, 9}));
  p.SendFrame(FrameType::kLsa, Advert(8, "x8", 10, {7}));
  p.SendFrame(FrameType::kLsa, Advert(9, "x9", 10, {7}));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->Reachable(8) && (*b_)->Reachable(9); }));
  p.SendFrame(FrameType::kLsa, Advert(10, "x10", 10, {7}));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().lsas_full == 1; }));
  EXPECT_EQ((*b_)->Nodes().size(), 4u);
  // Unreachable entries are evicted for new ones rather than refusing them.
  p.SendFrame(FrameType::kLsa, Advert(7, "fake", 11, {2}));  // 8, 9 unreachable now
  p.SendFrame(FrameType::kLsa, Advert(11, "x11", 10, {}));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().lsas_installed >= 5; }));
  EXPECT_EQ((*b_)->Nodes().size(), 4u);
  EXPECT_FALSE(p.closed());
}

TEST_F(MisbehaviourTest, AdvertClashingWithAReachableNodeIsRefused) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kLsa, Advert(9, "b", 10, {7}));  // B's own name, another id
  ASSERT_TRUE(RunUntil([&] { return (*b_)->counters().lsas_clash == 1; }));
  EXPECT_EQ((*b_)->Resolve("b"), std::optional<NodeId>(2));
}

TEST_F(MisbehaviourTest, ControlFloodIsCutOff) {
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  mesh::Heartbeat hb;
  hb.set_send_time_us(1);
  const std::string one = mesh::EncodeFrame(FrameType::kHeartbeat, hb.SerializeAsString());
  std::string many;
  for (int i = 0; i < 20000; i++) many += one;  // the bucket holds 8 x 4 + 4096
  p.Send(many);
  ASSERT_TRUE(RunUntil([&] { return p.closed(); }));
  EXPECT_EQ(Errors(ProtocolError::kFlood), 1u);
}

TEST_F(MisbehaviourTest, ProbesAreForwardedAndAnswered) {
  // The scripted node pings B, and traces through B to nowhere.
  RawPeer p((*b_)->listen_port());
  ASSERT_TRUE(Join(&p, 7, "fake"));
  p.SendFrame(FrameType::kLsa, Advert(7, "fake", 10, {2}));
  ASSERT_TRUE(RunUntil([&] { return (*b_)->Reachable(7); }));
  mesh::Probe ping;
  ping.set_kind(mesh::Probe::ECHO_REQUEST);
  ping.set_origin(7);
  ping.set_destination(2);
  ping.set_request_id(42);
  ping.set_ttl(8);
  p.SendFrame(FrameType::kProbe, ping.SerializeAsString());
  std::optional<Frame> reply;
  ASSERT_TRUE(RunUntil([&] { return (reply = p.Take(FrameType::kProbe)).has_value(); }));
  mesh::Probe r;
  ASSERT_TRUE(mesh::ParseProbe(reply->payload, &r));
  EXPECT_EQ(r.kind(), mesh::Probe::ECHO_REPLY);
  EXPECT_EQ(r.request_id(), 42u);
  EXPECT_EQ(r.reporter(), 2u);
  EXPECT_EQ(r.destination(), 7u);
  // To an unknown node: B says so.
  ping.set_destination(99);
  p.SendFrame(FrameType::kProbe, ping.SerializeAsString());
  ASSERT_TRUE(RunUntil([&] { return (reply = p.Take(FrameType::kProbe)).has_value(); }));
  ASSERT_TRUE(mesh::ParseProbe(reply->payload, &r));
  EXPECT_EQ(r.kind(), mesh::Probe::UNREACHABLE);
  EXPECT_EQ((*b_)->counters().probes_no_route, 1u);
}

}  // namespace
}  // namespace meshd
