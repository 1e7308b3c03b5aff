// MeshNode: meshd's mesh link layer and routing, on meshd's libuv loop.
//
// A MeshNode keeps authenticated TCP links to other nodes (it accepts on
// its listen address and dials its configured peers, redialing with
// jittered exponential backoff), detects dead links by heartbeats, floods
// link-state adverts and computes shortest paths, answers and forwards
// ping/trace probes, and carries DATA frames (opaque payloads) for the
// session layer on any link, with backpressure. docs/mesh.md has the wire
// protocol, timers and limits.
//
//   class Sessions : public meshd::MeshNode::Handler { ... };
//   meshd::MeshNode::Options o;
//   o.node_name = "a"; o.node_id = 1; o.listen_address = "[::]:7946";
//   o.peers = {{"10.0.0.2:7946", "b"}}; o.cluster_key = key;
//   meshd::MeshNode mesh(loop, o, &sessions);
//   if (absl::Status s = mesh.Start(); !s.ok()) ...;
//   ...
//   meshd::LinkId via = mesh.NextHop(*mesh.Resolve("c"));
//   if (via != 0 && !mesh.Congested(via)) mesh.SendData(via, std::move(bytes));
//   ...
//   mesh.Stop();                       // then run the loop until mesh.stopped()
//
// Threading: everything on the loop thread. The Handler is called only from
// the loop's own callbacks, never from inside a MeshNode method call, so it
// may call any MeshNode method (but must not destroy the MeshNode).
//
// Zero copy: a DATA payload is read from the socket straight into the
// std::string handed to OnData, and SendData's payload is written from its
// own memory; neither is copied in user space.
#ifndef MESHD_MESH_MESH_NODE_H_
#define MESHD_MESH_MESH_NODE_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "meshd/mesh/frame.h"
#include "meshd/mesh/mesh_types.h"

namespace meshd {

class MeshNode {
 public:
  // A peer to dial.
  struct Peer {
    std::string address;  // "host:port", "[v6addr]:port" or "hostname:port"
    std::string name;     // if not empty, the name the peer must have
  };

  struct Options {
    std::string node_name;    // 1-63 characters of [A-Za-z0-9._-]
    NodeId node_id = 0;       // nonzero
    // "host:port" or "[v6addr]:port" (a host name is resolved at Start);
    // "" = no listener; port 0 = an ephemeral port (listen_port()).
    std::string listen_address;
    std::vector<Peer> peers;  // dialed, and redialed with backoff
    std::string cluster_key;  // raw shared key bytes, at least 16
    // Keys also taken from peers (a key rotation's other key), each at
    // least 16 bytes; never proved to them.
    std::vector<std::string> accepted_cluster_keys;
    uint32_t heartbeat_interval_ms = 200;  // >= 1
    uint32_t dead_interval_ms = 1000;      // > 2 x heartbeat_interval_ms
    uint32_t backoff_min_ms = 100;         // >= 1
    uint32_t backoff_max_ms = 5000;        // >= backoff_min_ms
    // Unsent bytes on one link above which it is congested; twice this
    // closes the link. At least max_frame_bytes.
    uint64_t max_link_queued_bytes = 8u << 20;
    uint32_t max_nodes = 1024;             // nodes tracked, this one included; >= 1
    // Largest frame payload accepted (and sent: SendData refuses more, or
    // more than the peer accepts). At least 65536.
    uint32_t max_frame_bytes = 1u << 20;
    uint32_t connect_timeout_ms = 5000;    // TCP connect
    uint32_t handshake_timeout_ms = 2000;  // from connected to Ready
    uint32_t max_pending_handshakes = 64;  // connections not yet established
    uint32_t lsa_refresh_interval_ms = 30000;  // re-advertise this often
    uint32_t lsa_max_age_ms = 120000;      // purge adverts older than this; > refresh
    uint32_t link_cost = 1;                // our cost for each link, 1..65535
    uint32_t max_pending_probes = 1024;    // Ping/Trace requests in flight
    uint32_t probe_ttl = 64;               // 1..255
  };

  // The session layer. Every call is on the loop thread and never re-entrant
  // (see above). Link ids are only ever reported for established links:
  // OnLinkUp, then any number of OnData/OnLinkWritable, then OnLinkDown.
  class Handler {
   public:
    virtual ~Handler() = default;
    // A DATA frame arrived on link FROM, whose peer is FROM_NODE. Frames on
    // one link arrive in the order they were sent.
    virtual void OnData(LinkId from, NodeId from_node, std::string payload) = 0;
    // Bulk data placement: a DATA frame of LEN bytes whose first bytes are
    // FIRST is arriving on FROM; the handler may name where a part of its
    // payload should be read to (mesh::PayloadSplit), to receive it there
    // without a copy. Such a frame then comes to OnSplitData. By default
    // nothing is split.
    virtual mesh::PayloadSplit SplitData(LinkId from, std::string_view first, uint32_t len) {
      return {};
    }
    // A DATA frame split as SplitData said: PAYLOAD is all but the part in
    // SPLIT. By default reassembled for OnData.
    virtual void OnSplitData(LinkId from, NodeId from_node, std::string payload,
                             mesh::PayloadSplit split) {
      payload.insert(split.offset, split.where, split.len);
      OnData(from, from_node, std::move(payload));
    }
    // A link to PEER is established (authenticated and admitted).
    virtual void OnLinkUp(LinkId link, NodeId peer) {}
    // LINK is gone (closed by either side, dead interval, protocol error,
    // Stop()). Frames queued on it were dropped.
    virtual void OnLinkDown(LinkId link, NodeId peer) = 0;
    // NODE became reachable or unreachable (routing changed).
    virtual void OnReachability(NodeId node, bool reachable) {}
    // LINK was congested and its unsent bytes fell below half of
    // max_link_queued_bytes.
    virtual void OnLinkWritable(LinkId link) {}
  };

  // LOOP and HANDLER must outlive the MeshNode. Nothing happens until Start().
  MeshNode(uv_loop_t* loop, Options options, Handler* handler);
  // Requires that Start() failed or was never called, or that Stop() was
  // called and the loop has run until stopped() (aborts otherwise).
  ~MeshNode();

  MeshNode(const MeshNode&) = delete;
  MeshNode& operator=(const MeshNode&) = delete;

  // Validates the options, binds the listener, starts dialing. On error
  // (InvalidArgument for options, the socket error for the listener)
  // nothing was started. Call once.
  absl::Status Start();

  // Replaces the cluster key and the keys also accepted, for every
  // handshake from now on; established links stay up. InvalidArgument (and
  // nothing changes) if a key is shorter than 16 bytes. May be called
  // before Start().
  absl::Status SetClusterKeys(std::string key, std::vector<std::string> accepted);
  // Replaces the configured peers while running: new addresses are dialed
  // at once; removed ones are no longer dialed (a link to one that is still
  // connecting is closed; one that is up stays until it ends) and their
  // dialers are freed; for kept ones only the expected name changes,
  // checked from the next handshake. A removed address added back later
  // starts afresh (attempts and backoff from zero).
  // InvalidArgument (nothing changes) for peers Options would refuse, or an
  // address given twice; FailedPrecondition unless running.
  absl::Status SetPeers(std::vector<Peer> peers);
  // Failure detection and redial pacing (Options' fields of these names).
  struct Timers {
    uint32_t heartbeat_interval_ms = 200;
    uint32_t dead_interval_ms = 1000;
    uint32_t backoff_min_ms = 100;
    uint32_t backoff_max_ms = 5000;
  };
  // Replaces them while running (a reload): every link sends heartbeats
  // and checks its dead interval by the new values from its next tick; each
  // dialer's backoff is brought within the new bounds, and one waiting
  // longer than the new maximum dials within it. InvalidArgument (nothing
  // changes) for values Options would refuse; FailedPrecondition unless
  // running. Peers declare this node dead by their own dead intervals:
  // lengthen those everywhere before lengthening heartbeats.
  absl::Status SetTimers(const Timers& t);

  // The ids (mesh::ClusterKeyId) of the key this node proves, and of those
  // it also accepts, in order.
  std::vector<std::string> ClusterKeyIds() const;

  // Closes every link (peers see them go at once), stops listening and
  // dialing, and fails pending Ping/Trace requests with Cancelled. The
  // handler still gets OnLinkDown for every established link and
  // OnReachability(false) for every node that was reachable, from the loop;
  // then stopped() becomes true. Idempotent.
  void Stop();
  // True once Stop() has finished releasing everything.
  bool stopped() const;

  // The port the listener is bound to (after port 0: the one chosen); 0 if
  // there is no listener.
  int listen_port() const;
  const std::string& node_name() const;
  NodeId node_id() const;

  // Routing: shortest paths over links that both ends advertise.
  // The reachable node named NODE_NAME (this node included), if any.
  std::optional<NodeId> Resolve(std::string_view node_name) const;
  // The established link to send through to reach DST; 0 if DST is
  // unreachable or is this node.
  LinkId NextHop(NodeId dst) const;
  // True if DST is reachable (this node is).
  bool Reachable(NodeId dst) const;
  // The peer of LINK if it is established, else 0.
  NodeId PeerOf(LinkId link) const;

  // DATA frames. Queues PAYLOAD (moved, never copied) on LINK and returns
  // true; returns false, sending nothing, if LINK is not established or
  // PAYLOAD is over the frame limit (ours or the peer's). Never blocks.
  // Above max_link_queued_bytes unsent, the link is congested: Congested()
  // is true until it drains below half, then OnLinkWritable(). Callers must
  // stop sending on a congested link; a frame that would take it over twice
  // the limit closes the link instead (OnLinkDown; SendData returns false).
  // A payload's borrowed middle (DataPayload::mid) is written from where it
  // lives, with its owner held until then.
  bool SendData(LinkId link, mesh::DataPayload payload);
  bool Congested(LinkId link) const;
  // Backpressure from above: stop/resume reading LINK (TCP then pushes back
  // on the peer). After PauseRead (even from inside OnData) no OnData for
  // LINK comes until ResumeRead; frames already decoded are held and
  // delivered from the loop after it. While paused, the link is still alive
  // as long as bytes wait in its socket. Unknown links are ignored.
  void PauseRead(LinkId link);
  void ResumeRead(LinkId link);

  // Admin. Ping measures the round trip to DST through the mesh (probes are
  // forwarded hop by hop); Trace returns the path to DST, one hop per node
  // after this one (DST last), each with its round-trip time. DONE is called
  // exactly once, from the loop: with the result; Unavailable if DST is
  // unreachable (now or on the way); DeadlineExceeded after TIMEOUT;
  // ResourceExhausted over max_pending_probes; Cancelled if the node stops.
  // To this node: Ping gives zero, Trace an empty path.
  void Ping(NodeId dst, std::function<void(absl::StatusOr<absl::Duration>)> done,
            absl::Duration timeout);
  void Trace(NodeId dst, std::function<void(absl::StatusOr<std::vector<TraceHop>>)> done,
             absl::Duration timeout);

  // Introspection (admin API, metrics).
  std::vector<LinkInfo> Links() const;
  std::vector<NodeInfo> Nodes() const;   // every node in the LSDB, this one included
  std::vector<NodeInfo> Routes() const;  // reachable nodes other than this one
  std::vector<DialerInfo> Dialers() const;  // one per configured peer
  // The dialers in memory: the configured peers', and those of peers just
  // removed until libuv is done with them (a loop turn or a name lookup).
  size_t DialersHeld() const;
  const MeshCounters& counters() const;

  // Fault injection for tests: a frozen node behaves like a hung process:
  // it reads, writes, accepts, dials and times nothing (its peers see it
  // die after their dead interval). Unfreezing resumes everything.
  void SetFrozenForTest(bool frozen);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshd

#endif  // MESHD_MESH_MESH_NODE_H_
