// LinkStateDb: the link-state database and shortest-path computation of
// one node. Pure (no I/O, no clock: callers pass the time), so it is tested
// on its own (lsdb_test.cc).
//
//   LinkStateDb db(/*self=*/1, "a", /*max_nodes=*/1024);
//   db.SetSelf({{2, 1}}, /*seq=*/100);              // our links: to node 2, cost 1
//   db.Update(Lsa{2, "b", 7, {{1, 1}, {3, 1}}}, now_ms);
//   db.Update(Lsa{3, "c", 9, {{2, 1}}}, now_ms);
//   db.NextHop(3);        // 2: reach node 3 through neighbor 2
//   db.Lookup("c");       // 3
//
// Rules (docs/mesh.md):
// - An advert replaces the one held for its origin only if its seq is higher.
// - An edge u->v counts only if v's advert also lists u (two-way check).
// - Names and ids are one-to-one among the nodes held: an advert whose name
//   is held by another id (or whose... id is new and name taken) is refused
//   while that other node is reachable, and replaces it when it is not (it is
//   a stale entry). The same id under a new name with a higher seq is the
//   node renamed: accepted.
// - At most max_nodes origins (this node included). A new origin beyond that
//   evicts the oldest unreachable one if there is one, else it is refused.
// - Adverts not refreshed within max age are purged (Purge()).
// - Shortest paths by Dijkstra over costs; among equal-cost paths the first
//   hop with the lowest node id wins, so results are deterministic.
#ifndef MESHD_MESH_LSDB_H_
#define MESHD_MESH_LSDB_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "meshd/mesh/mesh_types.h"

namespace meshd {
namespace mesh {

struct LsaNeighbor {
  NodeId id = 0;
  uint32_t cost = 1;
  bool operator==(const LsaNeighbor& o) const { return id == o.id && cost == o.cost; }
};

// A link-state advert (proto LinkStateAdvert, validated: see messages.h).
struct Lsa {
  NodeId origin = 0;
  std::string name;
  uint64_t seq = 0;
  std::vector<LsaNeighbor> neighbors;
  bool operator==(const Lsa& o) const {
    return origin == o.origin && name == o.name && seq == o.seq && neighbors == o.neighbors;
  }
};

// A route to one reachable node.
struct Route {
  NodeId first_hop = 0;  // the neighbor to send through; 0 for self
  uint32_t cost = 0;
  uint32_t hops = 0;
};

class LinkStateDb {
 public:
  // SELF and SELF_NAME are this node (nonzero id, valid name); MAX_NODES >= 1
  // counts this node too.
  LinkStateDb(NodeId self, std::string self_name, uint32_t max_nodes);

  LinkStateDb(const LinkStateDb&) = delete;
  LinkStateDb& operator=(const LinkStateDb&) = delete;

  enum class UpdateResult {
    kInstalled,   // newer than what we held (or new): stored; flood it on
    kStale,       // same seq as, or older than, what we hold: ignored
    kSelf,        // about this node: not stored (the caller decides)
    kClash,       // name or id taken by another reachable node: refused
    kFull,        // max_nodes reached: refused
  };

  // Offers LSA, received at NOW_MS (any monotonic clock, in ms). LSA must be
  // valid (ValidateLsa in messages.h).
  UpdateResult Update(Lsa lsa, int64_t now_ms);

  // Replaces this node's own advert: our NEIGHBORS at SEQ (which must be
  // higher than the last one). Returns the new advert, to be flooded.
  const Lsa& SetSelf(std::vector<LsaNeighbor> neighbors, uint64_t seq);
  const Lsa& self_lsa() const { return entries_.at(self_).lsa; }

  // Removes every origin but this node whose advert arrived more than
  // MAX_AGE_MS before NOW_MS. Returns the ids removed.
  std::vector<NodeId> Purge(int64_t now_ms, int64_t max_age_ms);

  // Removes ORIGIN's advert (not this node's). Returns true if one was held.
  bool Remove(NodeId origin);

  // The advert held for ORIGIN (this node included), or nullptr. Valid until
  // the next non-const call.
  const Lsa* Find(NodeId origin) const;
  // When ORIGIN's advert was received (ms, the caller's clock), or -1.
  int64_t ReceivedAt(NodeId origin) const;
  // Every origin held, this node included, in no particular order.
  std::vector<NodeId> Origins() const;
  size_t size() const { return entries_.size(); }

  // Routing, from the adverts held now (recomputed when something changed).
  // The route to DST, or nullptr if DST is unreachable. Self has a route
  // (first_hop 0, cost 0).
  const Route* FindRoute(NodeId dst) const;
  bool Reachable(NodeId dst) const { return FindRoute(dst) != nullptr; }
  // The neighbor to send through to reach DST; 0 if unreachable or self.
  NodeId NextHop(NodeId dst) const;
  // The reachable node named NAME (this node included), or 0.
  NodeId Lookup(std::string_view name) const;
  // True if a reachable node other than (ID, NAME) holds ID or NAME: a node
  // claiming ID and NAME would clash with it. This node counts.
  bool Clashes(NodeId id, std::string_view name) const;
  // Every reachable node and its route (self included).
  const absl::flat_hash_map<NodeId, Route>& routes() const;
  // How many times shortest paths were computed.
  uint64_t spf_runs() const { return spf_runs_; }

 private:
  struct Entry {
    Lsa lsa;
    int64_t received_ms = 0;
  };
  void Spf() const;
  void Erase(NodeId origin);

  const NodeId self_;
  const uint32_t max_nodes_;
  absl::flat_hash_map<NodeId, Entry> entries_;
  absl::flat_hash_map<std::string, NodeId> by_name_;
  mutable bool dirty_ = true;
  mutable absl::flat_hash_map<NodeId, Route> routes_;
  mutable uint64_t spf_runs_ = 0;
};

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_LSDB_H_
