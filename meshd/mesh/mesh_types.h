// Types shared by the mesh link layer's public interface (MeshNode) and its
// parts: identifiers, the reasons a link closes or is refused, counters, and
// the introspection records the admin API and metrics read.
//
//   meshd::MeshCounters c = node.counters();
//   uint64_t wrong_key = c.handshakes_failed[size_t(meshd::HandshakeFailure::kWrongKey)];
//   for (size_t i = 0; i < c.handshakes_failed.size(); i++)
//     printf("%s %lu\n", meshd::HandshakeFailureName(meshd::HandshakeFailure(i)), c.handshakes_failed[i]);
#ifndef MESHD_MESH_MESH_TYPES_H_
#define MESHD_MESH_MESH_TYPES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace meshd {

// A node's 64-bit id, unique in the cluster. Never 0 (0 means "none").
using NodeId = uint64_t;
// One link (one TCP connection between two nodes) in this process. Never 0,
// never reused within a process.
using LinkId = uint64_t;

// Why a handshake did not produce a link. kNone is success.
enum class HandshakeFailure : uint8_t {
  kNone = 0,
  kBadHello,        // a malformed Hello or Auth, or a reflected nonce
  kVersion,         // no protocol version in common
  kSelf,            // the peer is this node (it dialed itself)
  kWrongKey,        // the peer's MAC did not prove the cluster key
  kNameClash,       // the name or id is used by another node in the mesh
  kUnexpectedName,  // a configured peer answered under another name
  kTimeout,         // not done within handshake_timeout_ms
  kDuplicate,       // lost the tie-break against another link to the node
  kLimit,           // too many links or pending handshakes
  kPeerClosed,      // the peer closed the connection during the handshake
  kPeerRefused,     // the peer refused us (sent Goodbye)
  kCount,
};
const char* HandshakeFailureName(HandshakeFailure f);

// A peer broke the protocol; the link is closed. kNone: no error.
enum class ProtocolError : uint8_t {
  kNone = 0,
  kFrameTooLarge,    // length over the limit (max_frame_bytes; 4 KiB before the handshake)
  kUnknownFrameType,
  kBadMessage,       // a control message failed to parse or validate
  kUnexpectedFrame,  // a frame not allowed in the link's state
  kForgedAdvert,     // an advert about this node, or about the peer under another name
  kFlood,            // control frames beyond the per-link rate limit
  kCount,
};
const char* ProtocolErrorName(ProtocolError e);

// Why a link (or a connection that never became one) was closed.
enum class LinkCloseReason : uint8_t {
  kNone = 0,
  kStopped,         // this node stopped
  kPeerClosed,      // the peer closed the connection, or said Goodbye
  kIoError,         // a socket error (connect, read, write)
  kConnectTimeout,  // the TCP connect did not finish in time
  kHandshakeFailed, // see HandshakeFailure
  kDead,            // nothing received for dead_interval_ms
  kOverflow,        // unsent data over the hard cap (2 x max_link_queued_bytes)
  kProtocolError,   // see ProtocolError
  kReplaced,        // another link to the same node won the tie-break
  kCount,
};
const char* LinkCloseReasonName(LinkCloseReason r);

// A link's state.
enum class LinkState : uint8_t {
  kConnecting,   // TCP connect in progress (dialed links only)
  kHandshake,    // connected; Hello/Auth/Ready in progress
  kEstablished,  // authenticated and admitted; carries traffic
  kClosing,      // closed; its handle is being released
};
const char* LinkStateName(LinkState s);

// What this node has seen since it was made. Plain counters; read them with
// MeshNode::counters() on the loop thread.
struct MeshCounters {
  // Connections.
  uint64_t connections_accepted = 0;  // accepted by the listener
  uint64_t connections_refused = 0;   // accepted, then closed at once: over a limit
  uint64_t dials = 0;                 // outgoing connection attempts
  uint64_t dial_failures = 0;         // resolve/connect errors and connect timeouts
  // Handshakes.
  uint64_t handshakes_ok = 0;
  std::array<uint64_t, static_cast<size_t>(HandshakeFailure::kCount)> handshakes_failed{};
  // Links.
  uint64_t links_up = 0;
  uint64_t links_down = 0;
  std::array<uint64_t, static_cast<size_t>(LinkCloseReason::kCount)> links_closed{};  // all connections, by reason
  std::array<uint64_t, static_cast<size_t>(ProtocolError::kCount)> protocol_errors{};
  // Traffic (established links).
  uint64_t data_frames_in = 0, data_bytes_in = 0;
  uint64_t data_frames_out = 0, data_bytes_out = 0;  // accepted by SendData
  uint64_t data_send_refused = 0;       // SendData returned false
  uint64_t frames_dropped = 0;          // queued frames discarded when their link closed
  uint64_t bytes_dropped = 0;
  uint64_t heartbeats_in = 0, heartbeats_out = 0;
  // Routing.
  uint64_t lsas_in = 0;           // adverts received
  uint64_t lsas_installed = 0;    // ... that were newer and replaced what we held
  uint64_t lsas_stale = 0;        // ... that were older or the same
  uint64_t lsas_clash = 0;        // ... refused: name/id used by another reachable node
  uint64_t lsas_full = 0;         // ... refused: max_nodes reached
  uint64_t lsas_originated = 0;   // our own adverts
  uint64_t lsas_purged = 0;       // dropped after lsa_max_age_ms without a refresh
  uint64_t self_lsa_conflicts = 0;  // adverts about us newer than ours (seq jumped past them)
  uint64_t spf_runs = 0;
  // Ping and trace.
  uint64_t probes_in = 0;
  uint64_t probes_forwarded = 0;
  uint64_t probes_ttl_expired = 0;
  uint64_t probes_no_route = 0;
  uint64_t probe_requests = 0;    // Ping() and Trace() calls
  uint64_t probe_timeouts = 0;
};

// One link, as introspection sees it.
struct LinkInfo {
  LinkId id = 0;
  NodeId peer_id = 0;      // 0 until the peer's Hello arrived
  std::string peer_name;   // "" until the peer's Hello arrived
  std::string local_address, remote_address;  // "1.2.3.4:5", "[::1]:5"
  LinkState state = LinkState::kConnecting;
  bool dialed = false;     // this node connected (else it accepted)
  absl::Duration rtt = absl::ZeroDuration();  // last heartbeat round trip; 0 before one
  uint64_t bytes_in = 0, bytes_out = 0;       // socket bytes, all frames
  uint64_t frames_in = 0, frames_out = 0;
  uint64_t queued_bytes = 0;  // accepted, not yet written to the socket
  bool congested = false;
  bool read_paused = false;
  // The peer proved a key this node accepts but does not prove itself (a
  // cluster key rotation under way: ClusterKeys).
  bool peer_key_accepted = false;
  absl::Time created = absl::InfinitePast();
  absl::Time up_since = absl::InfinitePast();  // InfinitePast until established
};

// One node of the mesh, as the link-state database sees it (this node
// included).
struct NodeInfo {
  NodeId id = 0;
  std::string name;
  bool reachable = false;
  bool self = false;
  uint64_t lsa_seq = 0;
  uint32_t neighbors = 0;        // in its advert
  LinkId next_hop_link = 0;      // 0 if unreachable or self
  NodeId next_hop_node = 0;
  uint32_t cost = 0;             // path cost (0 for self)
  uint32_t hops = 0;
  absl::Duration lsa_age = absl::ZeroDuration();  // since we received its advert
};

// One configured peer address that this node dials.
struct DialerInfo {
  std::string address;
  std::string expected_name;  // "" = any
  std::string state;          // "waiting", "resolving", "connecting", "handshake", "up", "idle"
  LinkId link = 0;            // current connection, if any
  NodeId last_peer_id = 0;    // who answered last time
  uint64_t attempts = 0;
  uint64_t consecutive_failures = 0;
  std::string last_error;
  absl::Duration backoff = absl::ZeroDuration();
};

// One hop of a trace: the node the probe reached and the round trip to it.
struct TraceHop {
  NodeId node = 0;
  std::string name;
  absl::Duration rtt = absl::ZeroDuration();
};

}  // namespace meshd

#endif  // MESHD_MESH_MESH_TYPES_H_
