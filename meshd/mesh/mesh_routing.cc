// MeshNode: link-state adverts, shortest paths, reachability, ping/trace.
// Lifecycle and links are in mesh_node.cc.
#include <algorithm>
#include <cassert>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "meshd/mesh/messages.h"
#include "meshd/mesh/mesh_node_impl.h"

namespace meshd {

using mesh::Link;
using mesh::Lsa;
using mesh::Probe;

namespace {

// Adverts about this node newer than ours that one link may bring (a stale
// copy from our previous run is normal, once); beyond this the peer is
// forging them, and the link is closed.
constexpr uint32_t kMaxSelfLsaConflictsPerLink = 3;

}  // namespace

// ---------------------------------------------------------------------------
// Adverts.

uint64_t MeshNode::Impl::NextSeq() {
  // Monotonic across restarts as long as the wall clock is: milliseconds
  // since the epoch << 16, plus a counter within the millisecond. If the
  // mesh holds a newer advert of ours (clock went back), HandleLsa moved
  // self_seq_ past it.
  const uint64_t wall = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(absl::Now())))
                        << 16;
  // Saturates rather than wrap to 0 (after an advert about us with a seq
  // near the top: then we cannot outrank it; see docs/mesh.md).
  const uint64_t next = self_seq_ == UINT64_MAX ? self_seq_ : self_seq_ + 1;
  self_seq_ = std::max(next, wall);
  return self_seq_;
}

void MeshNode::Impl::UpdateSelfLsa() {
  std::vector<mesh::LsaNeighbor> neighbors;
  neighbors.reserve(by_peer_.size());
  for (const auto& [peer, link] : by_peer_) neighbors.push_back({peer, options_.link_cost});
  std::sort(neighbors.begin(), neighbors.end(),
            [](const mesh::LsaNeighbor& a, const mesh::LsaNeighbor& b) { return a.id < b.id; });
  lsdb_->SetSelf(std::move(neighbors), NextSeq());
  last_origination_ms_ = uv_now(loop_);
  counters_.lsas_originated++;
  flood_self_ = true;
  reachability_dirty_ = true;
  Kick();
}

void MeshNode::Impl::FloodSelf() {
  flood_self_ = false;
  Flood(mesh::EncodeLsa(lsdb_->self_lsa()), 0);
}

void MeshNode::Impl::Flood(const std::string& encoded, LinkId except) {
  for (const auto& [peer, id] : by_peer_) {
    if (id == except) continue;
    if (Link* l = FindLink(id)) l->SendControl(mesh::FrameType::kLsa, encoded);
  }
}

void MeshNode::Impl::SendDatabase(Link* link) {
  // Reachable origins only: an unreachable one's advert cannot give the
  // peer a route, and not passing it on lets stale adverts die out.
  for (const NodeId origin : lsdb_->Origins()) {
    if (origin == options_.node_id || !lsdb_->Reachable(origin)) continue;
    const Lsa* lsa = lsdb_->Find(origin);
    link->SendControl(mesh::FrameType::kLsa, mesh::EncodeLsa(*lsa));
    if (link->closing()) return;
  }
}

void MeshNode::Impl::HandleLsa(Link* link, LinkSlot* slot, const std::string& payload) {
  Lsa lsa;
  if (!mesh::ParseLsa(payload, options_.max_nodes, &lsa)) {
    link->Fail(ProtocolError::kBadMessage, "bad advert");
    return;
  }
  counters_.lsas_in++;
  if (lsa.origin == link->peer_id() && lsa.name != link->peer_name()) {
    link->Fail(ProtocolError::kForgedAdvert, "advert for the peer under another name");
    return;
  }
  if (lsa.origin == options_.node_id) {
    const Lsa& mine = lsdb_->self_lsa();
    if (lsa.seq > mine.seq || (lsa.seq == mine.seq && !(lsa == mine))) {
      counters_.self_lsa_conflicts++;
      if (++slot->self_lsa_conflicts > kMaxSelfLsaConflictsPerLink) {
        link->Fail(ProtocolError::kForgedAdvert, "repeated adverts about this node");
        return;
      }
      SLOG_WARN("mesh", "advert about this node newer than ours: advertising past it")
          .Kv("link", link->id())
          .Kv("peer", link->peer_name())
          .Kv("seq", lsa.seq)
          .Kv("our_seq", mine.seq);
      self_seq_ = std::max(self_seq_, lsa.seq);
      UpdateSelfLsa();
    } else if (lsa.seq < mine.seq) {
      link->SendControl(mesh::FrameType::kLsa, mesh::EncodeLsa(mine));
    }
    return;
  }
  const NodeId origin = lsa.origin;
  const uint64_t seq = lsa.seq;
  std::string name = lsa.name;
  switch (lsdb_->Update(std::move(lsa), static_cast<int64_t>(uv_now(loop_)))) {
    case mesh::LinkStateDb::UpdateResult::kInstalled:
      counters_.lsas_installed++;
      // Flooded as received (unknown fields from newer versions survive).
      Flood(payload, link->id());
      reachability_dirty_ = true;
      Kick();
      return;
    case mesh::LinkStateDb::UpdateResult::kStale: {
      counters_.lsas_stale++;
      const Lsa* held = lsdb_->Find(origin);
      if (held != nullptr && held->seq > seq) {
        // The peer is behind: give it ours.
        link->SendControl(mesh::FrameType::kLsa, mesh::EncodeLsa(*held));
      }
      return;
    }
    case mesh::LinkStateDb::UpdateResult::kClash:
      counters_.lsas_clash++;
      SLOG_WARN("mesh", "advert refused: name or id used by another reachable node")
          .Kv("origin", common::Hex(origin))
          .Kv("name", name)
          .Kv("from", link->peer_name());
      return;
    case mesh::LinkStateDb::UpdateResult::kFull:
      counters_.lsas_full++;
      SLOG_WARN("mesh", "advert refused: max_nodes reached")
          .Kv("origin", common::Hex(origin))
          .Kv("name", name)
          .Kv("max_nodes", options_.max_nodes);
      return;
    case mesh::LinkStateDb::UpdateResult::kSelf:
      assert(false && "adverts about this node are handled above");
      return;
  }
}

void MeshNode::Impl::PurgeOld() {
  const uint64_t now = uv_now(loop_);
  last_purge_ms_ = now;
  const std::vector<NodeId> gone =
      lsdb_->Purge(static_cast<int64_t>(now), static_cast<int64_t>(options_.lsa_max_age_ms));
  if (gone.empty()) return;
  counters_.lsas_purged += gone.size();
  for (NodeId id : gone) {
    SLOG_INFO("mesh", "advert purged: not refreshed").Kv("origin", common::Hex(id));
  }
  reachability_dirty_ = true;
  Kick();
}

void MeshNode::Impl::UpdateReachability() {
  reachability_dirty_ = false;
  const auto& routes = lsdb_->routes();
  counters_.spf_runs = lsdb_->spf_runs();
  for (const auto& [id, route] : routes) {
    if (id == options_.node_id) continue;
    if (notified_reachable_.insert(id).second) {
      Defer([this, id = id] { handler_->OnReachability(id, true); });
    }
  }
  std::vector<NodeId> lost;
  for (NodeId id : notified_reachable_) {
    if (!routes.contains(id)) lost.push_back(id);
  }
  for (NodeId id : lost) {
    notified_reachable_.erase(id);
    Defer([this, id] { handler_->OnReachability(id, false); });
  }
}

std::optional<NodeId> MeshNode::Impl::Resolve(std::string_view name) const {
  if (lsdb_ == nullptr) return std::nullopt;
  const NodeId id = lsdb_->Lookup(name);
  if (id == 0) return std::nullopt;
  return id;
}

LinkId MeshNode::Impl::NextHop(NodeId dst) const {
  if (lsdb_ == nullptr || dst == options_.node_id) return 0;
  const NodeId via = lsdb_->NextHop(dst);
  if (via == 0) return 0;
  auto it = by_peer_.find(via);
  return it == by_peer_.end() ? 0 : it->second;
}

bool MeshNode::Impl::Reachable(NodeId dst) const { return lsdb_ != nullptr && lsdb_->Reachable(dst); }

NodeInfo MeshNode::Impl::MakeNodeInfo(NodeId id) const {
  NodeInfo i;
  i.id = id;
  i.self = id == options_.node_id;
  const uint64_t now = uv_now(loop_);
  if (const Lsa* lsa = lsdb_->Find(id)) {
    i.name = lsa->name;
    i.lsa_seq = lsa->seq;
    i.neighbors = static_cast<uint32_t>(lsa->neighbors.size());
  }
  const int64_t at = i.self ? static_cast<int64_t>(last_origination_ms_) : lsdb_->ReceivedAt(id);
  if (at >= 0 && static_cast<uint64_t>(at) <= now) i.lsa_age = absl::Milliseconds(now - at);
  if (const mesh::Route* r = lsdb_->FindRoute(id)) {
    i.reachable = true;
    i.cost = r->cost;
    i.hops = r->hops;
    i.next_hop_node = r->first_hop;
    i.next_hop_link = NextHop(id);
  }
  return i;
}

std::vector<NodeInfo> MeshNode::Impl::Nodes() const {
  std::vector<NodeInfo> out;
  if (lsdb_ == nullptr) return out;
  for (NodeId id : lsdb_->Origins()) out.push_back(MakeNodeInfo(id));
  std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  return out;
}

std::vector<NodeInfo> MeshNode::Impl::Routes() const {
  std::vector<NodeInfo> out;
  if (lsdb_ == nullptr) return out;
  for (const auto& [id, route] : lsdb_->routes()) {
    if (id != options_.node_id) out.push_back(MakeNodeInfo(id));
  }
  std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  return out;
}

// ---------------------------------------------------------------------------
// Ping and trace.

void MeshNode::Impl::Ping(NodeId dst, std::function<void(absl::StatusOr<absl::Duration>)> done,
                          absl::Duration timeout) {
  counters_.probe_requests++;
  if (state_ == State::kNew || state_ == State::kStopped) {
    done(absl::FailedPreconditionError("mesh node not running"));
    return;
  }
  auto fail = [this, &done](absl::Status s) {
    Defer([done = std::move(done), s = std::move(s)] { done(s); });
  };
  if (state_ != State::kRunning) return fail(absl::CancelledError("mesh node stopping"));
  if (dst == options_.node_id) {
    Defer([done = std::move(done)] { done(absl::ZeroDuration()); });
    return;
  }
  if (probes_.size() >= options_.max_pending_probes) {
    return fail(absl::ResourceExhaustedError("too many pings and traces in flight"));
  }
  if (NextHop(dst) == 0) return fail(absl::UnavailableError("node unreachable"));
  PendingProbe p;
  p.ping_done = std::move(done);
  StartProbe(false, dst, timeout, std::move(p));
}

void MeshNode::Impl::Trace(NodeId dst,
                           std::function<void(absl::StatusOr<std::vector<TraceHop>>)> done,
                           absl::Duration timeout) {
  counters_.probe_requests++;
  if (state_ == State::kNew || state_ == State::kStopped) {
    done(absl::FailedPreconditionError("mesh node not running"));
    return;
  }
  auto fail = [this, &done](absl::Status s) {
    Defer([done = std::move(done), s = std::move(s)] { done(s); });
  };
  if (state_ != State::kRunning) return fail(absl::CancelledError("mesh node stopping"));
  if (dst == options_.node_id) {
    Defer([done = std::move(done)] { done(std::vector<TraceHop>()); });
    return;
  }
  if (probes_.size() >= options_.max_pending_probes) {
    return fail(absl::ResourceExhaustedError("too many pings and traces in flight"));
  }
  if (NextHop(dst) == 0) return fail(absl::UnavailableError("node unreachable"));
  PendingProbe p;
  p.trace_done = std::move(done);
  StartProbe(true, dst, timeout, std::move(p));
}

uint64_t MeshNode::Impl::StartProbe(bool trace, NodeId dst, absl::Duration timeout, PendingProbe probe) {
  const uint64_t id = next_probe_id_++;
  probe.trace = trace;
  probe.dst = dst;
  probe.start_ns = uv_hrtime();
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
  probe.deadline_ms = uv_now(loop_) + static_cast<uint64_t>(ms);
  probes_.emplace(id, std::move(probe));
  Probe p;
  p.set_kind(trace ? Probe::TRACE_REQUEST : Probe::ECHO_REQUEST);
  p.set_origin(options_.node_id);
  p.set_destination(dst);
  p.set_request_id(id);
  p.set_ttl(options_.probe_ttl);
  p.set_hops(0);
  RouteProbe(p);  // a route was checked just before
  ArmProbeTimer();
  return id;
}

bool MeshNode::Impl::RouteProbe(const Probe& p) {
  Link* l = FindLink(NextHop(p.destination()));
  if (l == nullptr) return false;
  l->SendControl(mesh::FrameType::kProbe, p.SerializeAsString());
  return true;
}

void MeshNode::Impl::ReplyProbe(const Probe& request, Probe::Kind kind, uint32_t hops) {
  Probe r;
  r.set_kind(kind);
  r.set_origin(request.origin());
  r.set_destination(request.origin());
  r.set_request_id(request.request_id());
  r.set_ttl(options_.probe_ttl);
  r.set_hops(hops);  // replies: the hop index of the reporter
  r.set_reporter(options_.node_id);
  r.set_reporter_name(options_.node_name);
  if (r.destination() == options_.node_id) {
    CompleteProbe(r);
    return;
  }
  if (!RouteProbe(r)) counters_.probes_no_route++;
}

void MeshNode::Impl::HandleProbe(Link* link, const std::string& payload) {
  Probe p;
  if (!mesh::ParseProbe(payload, &p)) {
    link->Fail(ProtocolError::kBadMessage, "bad probe");
    return;
  }
  counters_.probes_in++;
  const bool request = p.kind() == Probe::ECHO_REQUEST || p.kind() == Probe::TRACE_REQUEST;
  // Links the request crossed to get here (this one included).
  const uint32_t arrived = p.hops() + 1;
  if (p.destination() == options_.node_id) {
    switch (p.kind()) {
      case Probe::ECHO_REQUEST:
        ReplyProbe(p, Probe::ECHO_REPLY, arrived);
        return;
      case Probe::TRACE_REQUEST:
        ReplyProbe(p, Probe::TRACE_REPLY, arrived);
        return;
      default:
        CompleteProbe(p);
        return;
    }
  }
  if (p.kind() == Probe::TRACE_REQUEST) ReplyProbe(p, Probe::TRACE_REPLY, arrived);
  if (p.ttl() <= 1 || arrived > mesh::kMaxProbeTtl) {
    counters_.probes_ttl_expired++;
    if (request) ReplyProbe(p, Probe::UNREACHABLE, arrived);
    return;
  }
  p.set_ttl(p.ttl() - 1);
  if (request) p.set_hops(arrived);
  if (!RouteProbe(p)) {
    counters_.probes_no_route++;
    if (request) ReplyProbe(p, Probe::UNREACHABLE, arrived);
    return;
  }
  counters_.probes_forwarded++;
}

void MeshNode::Impl::CompleteProbe(const Probe& p) {
  auto it = probes_.find(p.request_id());
  if (it == probes_.end()) return;  // late, or not ours
  PendingProbe& pr = it->second;
  const absl::Duration rtt = absl::Nanoseconds(uv_hrtime() - pr.start_ns);
  if (p.kind() == Probe::UNREACHABLE) {
    const absl::Status s =
        absl::UnavailableError(absl::StrCat("no route onwards from ", p.reporter_name()));
    if (pr.trace) {
      Defer([done = std::move(pr.trace_done), s] { done(s); });
    } else {
      Defer([done = std::move(pr.ping_done), s] { done(s); });
    }
    probes_.erase(it);
    return;
  }
  if (!pr.trace) {
    if (p.kind() != Probe::ECHO_REPLY || p.reporter() != pr.dst) return;
    Defer([done = std::move(pr.ping_done), rtt] { done(rtt); });
    probes_.erase(it);
    return;
  }
  if (p.kind() != Probe::TRACE_REPLY || p.hops() == 0) return;
  pr.hops.try_emplace(p.hops(), TraceHop{p.reporter(), p.reporter_name(), rtt});
  if (p.reporter() == pr.dst) pr.reached_hops = p.hops();
  if (pr.reached_hops == 0) return;
  std::vector<TraceHop> path;
  for (uint32_t h = 1; h <= pr.reached_hops; h++) {
    auto hop = pr.hops.find(h);
    if (hop == pr.hops.end()) return;  // an earlier hop's reply is still on its way
    path.push_back(hop->second);
  }
  Defer([done = std::move(pr.trace_done), path = std::move(path)]() mutable { done(std::move(path)); });
  probes_.erase(it);
}

void MeshNode::Impl::ArmProbeTimer() {
  if (state_ != State::kRunning) return;
  uint64_t next = 0;
  for (const auto& [id, p] : probes_) {
    if (next == 0 || p.deadline_ms < next) next = p.deadline_ms;
  }
  if (next == 0) {
    uv_timer_stop(&probe_timer_);
    return;
  }
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&probe_timer_, OnProbeTimer, next > now ? next - now : 0, 0);
}

void MeshNode::Impl::OnProbeTimer(uv_timer_t* t) {
  auto* self = static_cast<Impl*>(t->data);
  self->ExpireProbes(false);
  self->ArmProbeTimer();
}

void MeshNode::Impl::ExpireProbes(bool all) {
  const uint64_t now = uv_now(loop_);
  std::vector<uint64_t> expired;
  for (const auto& [id, p] : probes_) {
    if (all || p.deadline_ms <= now) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    auto it = probes_.find(id);
    PendingProbe& pr = it->second;
    absl::Status s;
    if (all) {
      s = absl::CancelledError("mesh node stopping");
    } else {
      counters_.probe_timeouts++;
      std::string reached;
      for (uint32_t h = 1; h <= mesh::kMaxProbeTtl; h++) {
        auto hop = pr.hops.find(h);
        if (hop == pr.hops.end()) break;
        absl::StrAppend(&reached, reached.empty() ? "" : " ", hop->second.name, "(",
                        absl::FormatDuration(hop->second.rtt), ")");
      }
      s = absl::DeadlineExceededError(
          pr.trace ? absl::StrCat("no answer in time; reached: ", reached.empty() ? "-" : reached)
                   : "no answer in time");
    }
    if (pr.trace) {
      Defer([done = std::move(pr.trace_done), s] { done(s); });
    } else {
      Defer([done = std::move(pr.ping_done), s] { done(s); });
    }
    probes_.erase(it);
  }
}

}  // namespace meshd
