// MeshNode's implementation, private to meshd/mesh: one class whose
// methods are split by concern over mesh_node.cc (lifecycle, listener,
// dialers, links, deferred handler calls) and mesh_routing.cc (adverts,
// shortest paths, reachability, ping/trace).
//
// Deferred work: nothing calls the Handler from inside a MeshNode method.
// Handler calls, flooding and socket writes are recorded (events_,
// flood_self_, dirty_links_) and Kick() starts an idle handle, so that Work()
// runs in the loop's next idle phase, before it blocks. OnData and OnLinkUp
// are made directly from a link's read callback (OnLinkUp after the queued
// calls), so a link's OnLinkUp always precedes its OnData.
#ifndef MESHD_MESH_MESH_NODE_IMPL_H_
#define MESHD_MESH_MESH_NODE_IMPL_H_

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "meshd/mesh/address.h"
#include "meshd/mesh/link.h"
#include "meshd/mesh/lsdb.h"
#include "meshd/mesh/mesh_node.h"
#include "proto/mesh.pb.h"

namespace meshd {

class MeshNode::Impl : public mesh::Link::Owner {
 public:
  Impl(uv_loop_t* loop, Options options, Handler* handler);
  ~Impl() override;

  // MeshNode's API (see mesh_node.h).
  absl::Status Start();
  absl::Status SetClusterKeys(std::string key, std::vector<std::string> accepted);
  std::vector<std::string> ClusterKeyIds() const;
  absl::Status SetPeers(std::vector<Peer> peers);
  absl::Status SetTimers(const Timers& t);
  void Stop();
  bool stopped() const { return state_ == State::kStopped; }
  int listen_port() const { return listen_port_; }
  const Options& options() const { return options_; }
  std::optional<NodeId> Resolve(std::string_view name) const;
  LinkId NextHop(NodeId dst) const;
  bool Reachable(NodeId dst) const;
  NodeId PeerOf(LinkId link) const;
  bool SendData(LinkId link, mesh::DataPayload payload);
  bool Congested(LinkId link) const;
  void SetReadPaused(LinkId link, bool paused);
  void Ping(NodeId dst, std::function<void(absl::StatusOr<absl::Duration>)> done,
            absl::Duration timeout);
  void Trace(NodeId dst, std::function<void(absl::StatusOr<std::vector<TraceHop>>)> done,
             absl::Duration timeout);
  std::vector<LinkInfo> Links() const;
  std::vector<NodeInfo> Nodes() const;
  std::vector<NodeInfo> Routes() const;
  std::vector<DialerInfo> Dialers() const;
  size_t DialersHeld() const { return dialers_.size(); }
  const MeshCounters& counters() const { return counters_; }
  void SetFrozen(bool frozen);

  // mesh::Link::Owner.
  HandshakeFailure AdmitPeer(mesh::Link* link) override;
  void LinkEstablished(mesh::Link* link) override;
  void LinkFrame(mesh::Link* link, mesh::Frame& frame) override;
  mesh::PayloadSplit SplitData(mesh::Link* link, std::string_view first, uint32_t len) override;
  void LinkClosing(mesh::Link* link) override;
  void LinkReleased(mesh::Link* link) override;
  void LinkNeedsService(mesh::Link* link) override;
  void LinkDrained(mesh::Link* link) override;

 private:
  enum class State { kNew, kRunning, kStopping, kStopped };

  // A configured peer address and its redial state.
  struct Dialer {
    Impl* node = nullptr;
    Peer peer;
    mesh::HostPort hp;
    uv_timer_t timer;
    bool timer_armed = false;
    // waiting (timer armed), resolving, connecting/handshake/up (link != 0),
    // idle (a link to last_peer exists that the peer dialed).
    uv_getaddrinfo_t* resolving = nullptr;
    LinkId link = 0;
    NodeId last_peer = 0;
    uint64_t backoff_ms = 0;
    uint64_t attempts = 0;
    uint64_t failures = 0;  // consecutive
    std::string last_error;
    // Removed from the peers by SetPeers: never dialed again, and freed
    // (FreeRetired) once its timer is closed and no lookup is under way.
    bool retired = false;
    bool timer_closed = false;
  };

  struct LinkSlot {
    std::unique_ptr<mesh::Link> link;
    Dialer* dialer = nullptr;   // the dialer that made it, if any
    uint32_t self_lsa_conflicts = 0;
  };

  struct PendingProbe {
    bool trace = false;
    NodeId dst = 0;
    uint64_t start_ns = 0;
    uint64_t deadline_ms = 0;
    std::function<void(absl::StatusOr<absl::Duration>)> ping_done;
    std::function<void(absl::StatusOr<std::vector<TraceHop>>)> trace_done;
    absl::flat_hash_map<uint32_t, TraceHop> hops;  // by hop index (1 = first)
    uint32_t reached_hops = 0;                     // hop index of DST, once known
  };

  // --- mesh_node.cc ---
  absl::Status ValidateOptions() const;
  static absl::Status ValidateKeys(const std::string& key,
                                   const std::vector<std::string>& accepted);
  absl::Status ValidatePeers(const std::vector<Peer>& peers) const;
  static absl::Status ValidateTimers(const Timers& t);
  uint64_t TickMs() const;  // the period of tick_, from the timers
  Dialer* AddDialer(const Peer& p);  // not dialed yet
  void RetireDialer(Dialer* d);      // removed from the peers: no more dials
  void FreeRetired(Dialer* d);       // frees D if libuv is done with it
  absl::Status Listen();
  static void OnListenEvent(uv_poll_t* h, int status, int events);
  void Accept();
  static void OnTick(uv_timer_t* t);
  void Tick();
  void Kick();
  static void OnIdle(uv_idle_t* h);
  void Work();
  void Defer(std::function<void()> fn);
  // Runs the queued handler calls now (callback context only).
  void DeliverEvents();
  void MaybeFinishStop();
  void CloseHandle(uv_handle_t* h);
  mesh::Link* FindLink(LinkId id) const;
  mesh::Link* NewLink(int fd, bool dialed, Dialer* dialer, LinkId* id);
  size_t PendingHandshakes() const;
  // Dialing.
  void ScheduleDial(Dialer* d, uint64_t delay_ms);
  static void OnDialTimer(uv_timer_t* t);
  void Dial(Dialer* d);
  static void OnResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  void Connect(Dialer* d, const struct sockaddr* addr, socklen_t len);
  void DialFailed(Dialer* d, std::string error);
  uint64_t Jitter(uint64_t ms);
  // Tie-break between two links to the same peer: true if A is to be kept.
  bool Wins(const mesh::Link* a, const mesh::Link* b) const;

  // --- mesh_routing.cc ---
  // Replaces our own advert (links changed, refresh, or our seq was
  // overtaken) and floods it from Work().
  void UpdateSelfLsa();
  uint64_t NextSeq();
  void FloodSelf();
  // Sends ENCODED (an advert) on every established link but EXCEPT.
  void Flood(const std::string& encoded, LinkId except);
  void SendDatabase(mesh::Link* link);
  void HandleLsa(mesh::Link* link, LinkSlot* slot, const std::string& payload);
  // Queues OnReachability for every change since the last call.
  void UpdateReachability();
  void PurgeOld();
  void HandleProbe(mesh::Link* link, const std::string& payload);
  void ReplyProbe(const mesh::Probe& request, mesh::Probe::Kind kind, uint32_t hops);
  // Sends P towards its destination. False if there is no route.
  bool RouteProbe(const mesh::Probe& p);
  void CompleteProbe(const mesh::Probe& p);
  uint64_t StartProbe(bool trace, NodeId dst, absl::Duration timeout, PendingProbe probe);
  void ArmProbeTimer();
  static void OnProbeTimer(uv_timer_t* t);
  void ExpireProbes(bool all);
  NodeInfo MakeNodeInfo(NodeId id) const;

  uv_loop_t* const loop_;
  Options options_;  // fixed but for the timers (SetTimers); the peers are the dialers
  Handler* const handler_;
  State state_ = State::kNew;
  bool frozen_ = false;
  MeshCounters counters_;
  mesh::LinkConfig link_config_;
  common::LogLimiter stranger_log_;
  std::unique_ptr<mesh::LinkStateDb> lsdb_;
  std::mt19937_64 rng_;

  // Handles. open_handles_ counts those not yet closed (idle_ aside).
  int listen_fd_ = -1;
  int listen_port_ = 0;
  uv_poll_t listen_poll_;
  bool listening_ = false;
  uv_timer_t tick_;
  uv_timer_t probe_timer_;
  uv_idle_t idle_;
  bool kicked_ = false;
  bool idle_closing_ = false;
  int open_handles_ = 0;
  int resolving_ = 0;  // getaddrinfo requests in flight

  std::vector<std::unique_ptr<Dialer>> dialers_;
  absl::flat_hash_map<LinkId, LinkSlot> links_;
  LinkId next_link_id_ = 1;
  absl::flat_hash_map<NodeId, LinkId> by_peer_;  // established links
  std::vector<LinkId> dirty_links_;
  std::deque<std::function<void()>> events_;

  // Routing.
  uint64_t self_seq_ = 0;
  bool flood_self_ = false;
  uint64_t last_origination_ms_ = 0;
  uint64_t last_purge_ms_ = 0;
  absl::flat_hash_set<NodeId> notified_reachable_;
  bool reachability_dirty_ = false;

  // Ping/trace.
  uint64_t next_probe_id_ = 1;
  absl::flat_hash_map<uint64_t, PendingProbe> probes_;
  bool probe_timer_armed_ = false;
};

}  // namespace meshd

#endif  // MESHD_MESH_MESH_NODE_IMPL_H_
