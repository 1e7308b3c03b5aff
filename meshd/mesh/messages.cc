#include "meshd/mesh/messages.h"

#include "absl/container/flat_hash_set.h"

namespace meshd {
namespace mesh {

bool ValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

template <typename M>
bool ParseProto(std::string_view payload, M* m) {
  if (payload.size() > static_cast<size_t>(INT32_MAX)) return false;
  return m->ParseFromArray(payload.data(), static_cast<int>(payload.size()));
}

}  // namespace

bool ParseGoodbye(std::string_view payload, std::string* reason) {
  Goodbye g;
  if (!ParseProto(payload, &g)) return false;
  if (g.reason().size() > kMaxGoodbyeReasonBytes) return false;
  reason->clear();
  for (const char c : g.reason()) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    reason->push_back(ok ? c : '_');
  }
  return true;
}

std::string EncodeGoodbye(std::string_view reason) {
  Goodbye g;
  g.set_reason(std::string(reason.substr(0, kMaxGoodbyeReasonBytes)));
  return g.SerializeAsString();
}

bool ParseHeartbeat(std::string_view payload, Heartbeat* hb) { return ParseProto(payload, hb); }

bool ValidateLsa(const Lsa& lsa, uint32_t max_nodes) {
  if (lsa.origin == 0 || lsa.seq == 0 || !ValidNodeName(lsa.name)) return false;
  if (lsa.neighbors.size() > max_nodes) return false;
  absl::flat_hash_set<NodeId> seen;
  seen.reserve(lsa.neighbors.size());
  for (const LsaNeighbor& n : lsa.neighbors) {
    if (n.id == 0 || n.id == lsa.origin) return false;
    if (n.cost < 1 || n.cost > kMaxLinkCost) return false;
    if (!seen.insert(n.id).second) return false;
  }
  return true;
}

bool ParseLsa(std::string_view payload, uint32_t max_nodes, Lsa* lsa) {
  LinkStateAdvert m;
  if (!ParseProto(payload, &m)) return false;
  if (static_cast<size_t>(m.neighbors_size()) > max_nodes) return false;
  lsa->origin = m.origin();
  lsa->name = m.origin_name();
  lsa->seq = m.seq();
  lsa->neighbors.clear();
  lsa->neighbors.reserve(m.neighbors_size());
  for (const Neighbor& n : m.neighbors()) lsa->neighbors.push_back(LsaNeighbor{n.node_id(), n.cost()});
  return ValidateLsa(*lsa, max_nodes);
}

std::string EncodeLsa(const Lsa& lsa) {
  LinkStateAdvert m;
  m.set_origin(lsa.origin);
  m.set_origin_name(lsa.name);
  m.set_seq(lsa.seq);
  for (const LsaNeighbor& n : lsa.neighbors) {
    Neighbor* p = m.add_neighbors();
    p->set_node_id(n.id);
    p->set_cost(n.cost);
  }
  return m.SerializeAsString();
}

bool ParseProbe(std::string_view payload, Probe* probe) {
  if (!ParseProto(payload, probe)) return false;
  switch (probe->kind()) {
    case Probe::ECHO_REQUEST:
    case Probe::TRACE_REQUEST:
      break;
    case Probe::ECHO_REPLY:
    case Probe::TRACE_REPLY:
    case Probe::UNREACHABLE:
      if (probe->reporter() == 0 || !ValidNodeName(probe->reporter_name())) return false;
      break;
    default:
      return false;
  }
  if (probe->origin() == 0 || probe->destination() == 0) return false;
  if (probe->ttl() < 1 || probe->ttl() > kMaxProbeTtl) return false;
  if (probe->hops() > kMaxProbeTtl) return false;
  return true;
}

}  // namespace mesh
}  // namespace meshd
