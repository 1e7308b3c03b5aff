// Relay: sessions across the mesh (SPEC §5).
//
// A remote session is a virtual circuit. The client's meshd (the client
// edge) sends kOpen toward the service's node; each meshd on the way keeps
// a transit entry (which link leads toward the client, which toward the
// service) and forwards; the service's meshd (the service edge) hands a
// socket to the service through the Broker and answers kOpenReply back
// along the same path. Every later frame of the session follows that path,
// in order.
//
// At each edge meshd holds its end of the local session socket as a
// libsyslink Link, so the local side gets every rule of a local link
// (validation, quotas, exactly one reply), and so do the frames meshd
// writes into it: a message from the mesh that the Link refuses (malformed,
// duplicate msgid, reply to nothing) is dropped and counted.
//
// Failures and exactly one reply:
//   - the local process dies: its Link synthesizes ECONNRESET replies for
//     the commands meshd had written into it; they travel to the far side
//     as ordinary replies; then kClose(ECONNRESET).
//   - a link on the path fails or the far node becomes unreachable: each
//     meshd next to the failure tears the session down toward the edges
//     (kClose(EHOSTUNREACH)); an edge says goodbye(why) to its local socket
//     and closes it, and the local library synthesizes one reply with that
//     errno for each of its commands still unanswered, wherever they were.
//   - the local meshd dies: the library sees end-of-file without goodbye
//     and synthesizes ECONNABORTED.
//
// Flow control: each direction of a session has a window (bytes of kMsg
// payload sent and not yet credited): the client edge's own, announced in
// kOpen; the service edge sends within the smaller of its own and that.
// An edge stops reading its local socket when the window is full or the
// first link is congested; the receiving edge returns credit for what it
// delivered on its next message the other way (a reply, usually), or in a
// CREDIT frame after 1 ms or a quarter of the window. A transit meshd whose
// outgoing link is congested pauses reading the incoming link (TCP pushes
// back). So a slow service slows its clients; no meshd buffers without
// bound.
//
// DMA: a command's data in the local process's shared buffer (a memfd from
// syslink_dma_alloc) is written to the mesh socket from that buffer, not
// copied (it must stay intact until the reply anyway); data in a pipe is
// read into the frame (one copy). At the receiving edge, large DMA data is
// read from the mesh socket straight into a slot of a ring shared with the
// local process (SplitMsg), which takes it from there: no copy in meshd.
// A large DMAR command is written to the local process with a ring slot as
// its buffer: the process writes the reply's data there, and the reply
// frame goes out from the slot. Other arriving data is copied once, into a
// pipe or the originator's shared memfd. Transit meshds forward frames without copying them.
#ifndef MESHD_RELAY_RELAY_H_
#define MESHD_RELAY_RELAY_H_

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "libsyslink/link.h"
#include "meshd/client/broker.h"
#include "meshd/relay/mesh_port.h"
#include "meshd/relay/relay_frame.h"

namespace meshd {

class Relay : public RemoteSessions {
 public:
  struct Options {
    uint32_t window_bytes = 2u << 20;  // per session and direction
    size_t max_sessions = 65536;       // edges + transits on this node
    uint32_t max_hops = 32;            // kOpen dropped beyond
    uint32_t drain_timeout_ms = 2000;  // flushing a closing session locally
  };
  struct Counters {
    uint64_t opens = 0, opens_ok = 0, opens_failed = 0;  // client edge: ours
    uint64_t service_opens = 0, service_opens_failed = 0;  // service edge
    uint64_t frames_in = 0, frames_out = 0, frames_forwarded = 0;
    uint64_t msgs_to_mesh = 0, msgs_to_local = 0;
    uint64_t dma_bytes_to_mesh = 0, dma_bytes_to_local = 0;
    uint64_t dma_bytes_copied = 0;      // user-space copies of DMA data here
    uint64_t bad_frames = 0, unknown_session = 0, refused_messages = 0;
    uint64_t late_replies = 0;
    // Times an edge stopped reading its local process: the session's window
    // was full (credit had not come back yet), or the link was congested.
    uint64_t window_waits = 0, congestion_waits = 0;
    uint64_t closes_sent = 0, teardowns_link_down = 0, teardowns_unreachable = 0;
  };
  struct SessionInfo {
    uint64_t sessid;
    std::string role;  // "client-edge", "service-edge", "transit"
    std::string service;
    std::string peer_node;
    uint64_t link;
    uint64_t window_used;
    uint64_t queued_bytes;
    uint64_t msgs_in, msgs_out;
  };

  Relay(uv_loop_t* loop, Options options, MeshPort* mesh, Broker* broker, TimerFactory timers);
  ~Relay() override;

  // RemoteSessions (from the Broker).
  void Connect(Client* c, const libsyslink::ctl::Message& m, uint64_t sessid) override;
  void ClientGone(Client* c) override;

  // Events from the mesh link layer.
  void OnData(uint64_t link, uint64_t from_node, std::string payload);
  // Large MSG frames for a local edge are read with their DMA data straight
  // into a slot of the edge's shared ring (MeshNode::Handler::SplitData),
  // then arrive here.
  mesh::PayloadSplit SplitMsg(uint64_t link, std::string_view first, uint32_t len);
  void OnSplitData(uint64_t link, uint64_t from_node, std::string payload,
                   mesh::PayloadSplit split);
  void OnLinkDown(uint64_t link);
  void OnLinkWritable(uint64_t link);
  void OnReachability(uint64_t node, bool reachable);

  // Draining: new sessions (from here or passing through) are refused with
  // EAGAIN; open ones go on.
  void SetDraining(bool draining) { draining_ = draining; }
  // True while some session has work in flight: commands awaiting replies
  // on either side of this node's edges, or frames not yet delivered.
  bool Busy() const;
  // Tears every session down with ECONNABORTED (meshd is stopping).
  void Shutdown();

  const Counters& counters() const { return counters_; }
  std::vector<SessionInfo> Sessions() const;
  size_t session_count() const { return edges_.size() + transits_.size(); }

 private:
  struct Edge;
  // A MSG frame received for an edge's local process: the payload, and if
  // it was split, its DMA data in a ring slot.
  struct Inbound {
    std::string payload;
    mesh::PayloadSplit split;
    size_t size() const { return payload.size() + split.len; }
  };
  struct Transit {
    uint64_t toward_client;
    uint64_t toward_service;
    uint64_t frames = 0;
  };

  // A frame from the mesh (whole, or split by SplitMsg): decoded, checked,
  // handed to its edge or transit.
  void Receive(uint64_t link, uint64_t from_node, Inbound in);
  void OnOpen(uint64_t link, RelayFrame& f, std::string payload);
  void OnOpenReply(uint64_t link, const RelayFrame& f, std::string payload);
  void ServiceEdgeOpened(uint64_t sessid, uint64_t link, const relay::RelayOpen& open,
                         common::UniqueFd meshd_end, int error);
  void OnEdgeFrame(Edge* e, const RelayFrame& f, Inbound payload);
  void Forward(uint64_t from_link, Transit& t, const RelayFrame& f, std::string payload);

  // Edge I/O.
  void StartLocal(Edge* e);
  void UpdatePoll(Edge* e);
  static void OnLocalEvent(uv_poll_t* h, int status, int events);
  void ReadLocal(Edge* e);
  void FlushLocal(Edge* e);
  // Returns the credit E owes the far edge: NOW, or once past a quarter of
  // the far edge's window (a client edge, not told it: a quarter of its own
  // or of 256 KiB, whichever is less), in a CREDIT frame; otherwise it waits
  // (kCreditDelayMs at most) for the next MSG from E to carry it.
  void SendCredit(Edge* e, bool now);
  // Starts *TIMER (made on first use) to call FN with E after MS, if E is
  // still there then.
  void StartEdgeTimer(Edge* e, std::unique_ptr<Timer>* timer, uint64_t ms,
                      std::function<void(Edge*)> fn);
  // Starts E's credit timer: after kCreditDelayMs, what E still owes goes
  // in a CREDIT frame, unless E sent messages meanwhile (then it waits on).
  void ArmCredit(Edge* e);
  // A free slot of E's ring (made on first use), or nullptr; *WHERE is its
  // memory. The slot is given back when the last copy of the result goes.
  std::shared_ptr<void> TakeSlot(Edge* e, char** where);
  // Gives back the ring slot that held MSGID's data (its reply came).
  void ReleaseSlot(Edge* e, uint64_t msgid);
  // Ends E: tells the far side (if FAR), says goodbye(WHY) locally after
  // flushing what is queued (bounded by drain_timeout_ms), frees E.
  void Teardown(Edge* e, int why, bool far);
  void FinishTeardown(Edge* e);
  void Destroy(Edge* e);
  void FailOpen(Edge* e, int error);
  bool SendOn(uint64_t link, mesh::DataPayload payload);

  uv_loop_t* const loop_;
  const Options options_;
  MeshPort* const mesh_;
  Broker* const broker_;
  TimerFactory timers_;
  bool shutting_down_ = false;
  bool draining_ = false;
  Counters counters_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Edge>> edges_;
  absl::flat_hash_map<uint64_t, Transit> transits_;
  absl::flat_hash_set<uint64_t> paused_links_;  // links we stopped reading
};

}  // namespace meshd

#endif  // MESHD_RELAY_RELAY_H_
