#include "meshd/mesh/lsdb.h"

#include <algorithm>
#include <cassert>
#include <queue>
#include <tuple>

namespace meshd {
namespace mesh {

LinkStateDb::LinkStateDb(NodeId self, std::string self_name, uint32_t max_nodes)
    : self_(self), max_nodes_(max_nodes < 1 ? 1 : max_nodes) {
  assert(self != 0);
  Entry e;
  e.lsa.origin = self;
  e.lsa.name = std::move(self_name);
  by_name_[e.lsa.name] = self;
  entries_.emplace(self, std::move(e));
}

const Lsa& LinkStateDb::SetSelf(std::vector<LsaNeighbor> neighbors, uint64_t seq) {
  Entry& e = entries_.at(self_);
  assert(seq > e.lsa.seq);
  e.lsa.seq = seq;
  e.lsa.neighbors = std::move(neighbors);
  dirty_ = true;
  return e.lsa;
}

void LinkStateDb::Erase(NodeId origin) {
  auto it = entries_.find(origin);
  if (it == entries_.end()) return;
  auto n = by_name_.find(it->second.lsa.name);
  if (n != by_name_.end() && n->second == origin) by_name_.erase(n);
  entries_.erase(it);
  dirty_ = true;
}

LinkStateDb::UpdateResult LinkStateDb::Update(Lsa lsa, int64_t now_ms) {
  if (lsa.origin == self_) return UpdateResult::kSelf;
  auto it = entries_.find(lsa.origin);
  if (it != entries_.end() && lsa.seq <= it->second.lsa.seq) return UpdateResult::kStale;
  // Names and ids one-to-one: another node holding this name?
  auto n = by_name_.find(lsa.name);
  if (n != by_name_.end() && n->second != lsa.origin) {
    if (n->second == self_ || Reachable(n->second)) return UpdateResult::kClash;
    Erase(n->second);  // a stale entry: the name moved to a new id
    it = entries_.find(lsa.origin);
  }
  if (it == entries_.end()) {
    if (entries_.size() >= max_nodes_) {
      // Evict the oldest unreachable origin, if any.
      NodeId victim = 0;
      int64_t oldest = 0;
      for (const auto& [id, e] : entries_) {
        if (id == self_ || Reachable(id)) continue;
        if (victim == 0 || e.received_ms < oldest) {
          victim = id;
          oldest = e.received_ms;
        }
      }
      if (victim == 0) return UpdateResult::kFull;
      Erase(victim);
    }
    Entry e;
    e.lsa = std::move(lsa);
    e.received_ms = now_ms;
    by_name_[e.lsa.name] = e.lsa.origin;
    const NodeId id = e.lsa.origin;
    entries_.emplace(id, std::move(e));
  } else {
    Entry& e = it->second;
    if (e.lsa.name != lsa.name) {
      // The node renamed itself (same id, newer advert).
      auto old = by_name_.find(e.lsa.name);
      if (old != by_name_.end() && old->second == lsa.origin) by_name_.erase(old);
      by_name_[lsa.name] = lsa.origin;
    }
    e.lsa = std::move(lsa);
    e.received_ms = now_ms;
  }
  dirty_ = true;
  return UpdateResult::kInstalled;
}

std::vector<NodeId> LinkStateDb::Purge(int64_t now_ms, int64_t max_age_ms) {
  std::vector<NodeId> gone;
  for (const auto& [id, e] : entries_) {
    if (id != self_ && now_ms - e.received_ms > max_age_ms) gone.push_back(id);
  }
  for (NodeId id : gone) Erase(id);
  return gone;
}

bool LinkStateDb::Remove(NodeId origin) {
  if (origin == self_ || entries_.find(origin) == entries_.end()) return false;
  Erase(origin);
  return true;
}

const Lsa* LinkStateDb::Find(NodeId origin) const {
  auto it = entries_.find(origin);
  return it == entries_.end() ? nullptr : &it->second.lsa;
}

int64_t LinkStateDb::ReceivedAt(NodeId origin) const {
  auto it = entries_.find(origin);
  return it == entries_.end() ? -1 : it->second.received_ms;
}

std::vector<NodeId> LinkStateDb::Origins() const {
  std::vector<NodeId> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) out.push_back(id);
  return out;
}

void LinkStateDb::Spf() const {
  if (!dirty_) return;
  dirty_ = false;
  spf_runs_++;
  routes_.clear();
  // Dijkstra. Queue entries: (cost, first hop, hops, node); the lowest
  // (cost, first hop) pops first, which makes ties deterministic.
  using Item = std::tuple<uint64_t, NodeId, uint32_t, NodeId>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q;
  q.emplace(0, 0, 0, self_);
  while (!q.empty()) {
    const auto [cost, first, hops, node] = q.top();
    q.pop();
    if (routes_.contains(node)) continue;
    routes_[node] = Route{first, static_cast<uint32_t>(std::min<uint64_t>(cost, UINT32_MAX)), hops};
    const Entry& e = entries_.at(node);
    for (const LsaNeighbor& nb : e.lsa.neighbors) {
      if (routes_.contains(nb.id)) continue;
      auto peer = entries_.find(nb.id);
      if (peer == entries_.end()) continue;
      // Two-way check: the neighbor must list this node too.
      bool back = false;
      for (const LsaNeighbor& b : peer->second.lsa.neighbors) {
        if (b.id == node) {
          back = true;
          break;
        }
      }
      if (!back) continue;
      q.emplace(cost + nb.cost, node == self_ ? nb.id : first, hops + 1, nb.id);
    }
  }
}

const Route* LinkStateDb::FindRoute(NodeId dst) const {
  Spf();
  auto it = routes_.find(dst);
  return it == routes_.end() ? nullptr : &it->second;
}

NodeId LinkStateDb::NextHop(NodeId dst) const {
  const Route* r = FindRoute(dst);
  return r == nullptr ? 0 : r->first_hop;
}

NodeId LinkStateDb::Lookup(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end() || !Reachable(it->second)) return 0;
  return it->second;
}

bool LinkStateDb::Clashes(NodeId id, std::string_view name) const {
  auto n = by_name_.find(std::string(name));
  if (n != by_name_.end() && n->second != id && Reachable(n->second)) return true;
  auto e = entries_.find(id);
  if (e != entries_.end() && e->second.lsa.name != name && Reachable(id)) return true;
  return false;
}

const absl::flat_hash_map<NodeId, Route>& LinkStateDb::routes() const {
  Spf();
  return routes_;
}

}  // namespace mesh
}  // namespace meshd
