// Parsing and validation of the mesh control messages (proto/mesh.proto)
// that arrive after the handshake: Goodbye, Heartbeat, LinkStateAdvert and
// Probe. Each Parse function accepts only a message that parses and whose
// fields are in range; anything else returns false and is a protocol error
// (kBadMessage) for the link that sent it.
//
//   Lsa lsa;
//   if (!ParseLsa(frame.payload, max_nodes, &lsa)) { /* close the link */ }
#ifndef MESHD_MESH_MESSAGES_H_
#define MESHD_MESH_MESSAGES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "meshd/mesh/lsdb.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace mesh {

// Limits on control messages.
inline constexpr uint32_t kMaxProbeTtl = 255;
inline constexpr size_t kMaxGoodbyeReasonBytes = 64;
inline constexpr uint32_t kMaxLinkCost = 65535;

// True if NAME is a valid node name: 1-63 characters of [A-Za-z0-9._-].
bool ValidNodeName(std::string_view name);

// A Goodbye: REASON gets its reason (at most kMaxGoodbyeReasonBytes of
// [A-Za-z0-9._-]; others are replaced by '_').
bool ParseGoodbye(std::string_view payload, std::string* reason);
std::string EncodeGoodbye(std::string_view reason);

bool ParseHeartbeat(std::string_view payload, Heartbeat* hb);

// An advert: origin nonzero, valid name, seq nonzero, at most MAX_NODES
// neighbors, each nonzero, not the origin, no duplicates, cost 1..65535.
bool ParseLsa(std::string_view payload, uint32_t max_nodes, Lsa* lsa);
// The same checks on an Lsa struct.
bool ValidateLsa(const Lsa& lsa, uint32_t max_nodes);
std::string EncodeLsa(const Lsa& lsa);

// A probe: kind known, origin and destination nonzero, ttl 1..255, hops at
// most 255; replies carry a nonzero reporter with a valid name.
bool ParseProbe(std::string_view payload, Probe* probe);

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_MESSAGES_H_
