#include "meshd/admin/fake_backend.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace meshd {
namespace admin {

FakeAdminBackend::FakeAdminBackend() : state_(Sample()) {}

FakeAdminBackend::State FakeAdminBackend::Sample() {
  State s;
  constexpr int64_t kStart = 1767225600000;  // 2026-01-01T00:00:00Z

  GetStatusResponse& st = s.status;
  st.set_version("0.1.0");
  st.set_node_name("node-a");
  st.set_node_id(0xa);
  st.set_pid(4242);
  st.set_started_unix_ms(kStart);
  st.set_uptime_ms(3723000);  // 1h2m3s
  ConfigSummary* c = st.mutable_config();
  c->set_client_socket_path("/run/meshd/meshd.sock");
  c->set_admin_socket_path("/run/meshd/admin.sock");
  c->set_mesh_listen_address("[::]:7946");
  c->add_peers("10.0.0.2:7946");
  c->set_metrics_address("127.0.0.1:9464");
  c->set_max_nodes(1024);
  c->set_max_clients(1024);
  c->set_max_services(256);
  c->set_sfbuf_pool_pages(1024);
  c->set_log_level("info");
  HealthSummary* h = st.mutable_health();
  h->set_clients(3);
  h->set_services(2);
  h->set_sessions_local(1);
  h->set_sessions_remote(1);
  h->set_sessions_transit(0);
  h->set_nodes_known(3);
  h->set_nodes_reachable(3);
  h->set_links_established(1);
  h->set_peers_configured(1);
  h->set_peers_up(1);
  h->set_regions(2);
  h->set_region_bytes(3 << 20);

  auto node = [&](uint64_t id, const char* name, Node::State state, uint64_t link, uint64_t via,
                  const char* via_name, uint32_t cost) {
    Node* n = s.nodes.add_nodes();
    n->set_id(id);
    n->set_name(name);
    n->set_state(state);
    n->set_lsa_seq(10 + id);
    n->set_neighbors(state == Node::UNREACHABLE ? 0 : 1);
    n->set_next_hop_link(link);
    n->set_next_hop_node(via);
    n->set_next_hop_name(via_name);
    n->set_cost(cost);
    n->set_hops(cost);
    n->set_lsa_age_ms(1000 * id);
  };
  node(0xa, "node-a", Node::SELF, 0, 0, "", 0);
  node(0xb, "node-b", Node::REACHABLE, 1, 0xb, "node-b", 1);
  node(0xc, "node-c", Node::REACHABLE, 1, 0xb, "node-b", 2);

  Link* l = s.links.add_links();
  l->set_id(1);
  l->set_peer_id(0xb);
  l->set_peer_name("node-b");
  l->set_local_address("10.0.0.1:40000");
  l->set_remote_address("10.0.0.2:7946");
  l->set_state(Link::ESTABLISHED);
  l->set_dialed(true);
  l->set_rtt_us(250);
  l->set_bytes_in(1000000);
  l->set_bytes_out(2000000);
  l->set_frames_in(1000);
  l->set_frames_out(2000);
  l->set_queued_bytes(0);
  l->set_errors(0);
  l->set_created_unix_ms(kStart + 1000);
  l->set_up_since_unix_ms(kStart + 1100);
  Peer* p = s.links.add_peers();
  p->set_address("10.0.0.2:7946");
  p->set_expected_name("node-b");
  p->set_state("up");
  p->set_link(1);
  p->set_attempts(1);

  auto route = [&](uint64_t id, const char* name, uint32_t cost) {
    Route* r = s.routes.add_routes();
    r->set_node_id(id);
    r->set_node_name(name);
    r->set_next_hop_link(1);
    r->set_next_hop_node(0xb);
    r->set_next_hop_name("node-b");
    r->set_cost(cost);
    r->set_hops(cost);
  };
  route(0xb, "node-b", 1);
  route(0xc, "node-c", 2);

  Session* se = s.sessions.add_sessions();
  se->set_sessid(0x8000000000000001);
  se->set_kind(Session::LOCAL);
  se->set_service("echo");
  se->set_client_node("node-a");
  se->set_client_pid(200);
  se->set_client_uid(1000);
  se->set_service_node("node-a");
  se->set_service_pid(100);
  se->set_opened_unix_ms(kStart + 5000);
  se = s.sessions.add_sessions();
  se->set_sessid(0x8000000000000002);
  se->set_kind(Session::CLIENT_EDGE);
  se->set_service("kv");
  se->set_client_node("node-a");
  se->set_client_pid(201);
  se->set_client_uid(1000);
  se->set_service_node("node-c");
  se->set_opened_unix_ms(kStart + 6000);
  se->set_link(1);
  se->set_window_used_bytes(4096);
  se->set_msgs_in(7);
  se->set_msgs_out(8);

  Service* sv = s.services.add_services();
  sv->set_name("echo");
  sv->set_pid(100);
  sv->set_uid(1000);
  sv->set_sessions(1);
  sv = s.services.add_services();
  sv->set_name("kv-proxy");
  sv->set_pid(101);
  sv->set_uid(1001);
  sv->set_sessions(0);

  Region* rg = s.regions.add_regions();
  rg->set_id(1);
  rg->set_generation(1);
  rg->set_owner_pid(100);
  rg->set_owner_uid(1000);
  rg->set_bytes(1 << 20);
  rg->set_readable(true);
  rg->set_registered_unix_ms(kStart + 7000);
  rg->set_reads(5);
  rg->set_bytes_read(5 << 16);
  rg = s.regions.add_regions();
  rg->set_id(2);
  rg->set_generation(3);
  rg->set_owner_pid(101);
  rg->set_owner_uid(1001);
  rg->set_bytes(2 << 20);
  rg->set_readable(true);
  rg->set_writable(true);
  rg->set_registered_unix_ms(kStart + 8000);
  rg->set_writes(2);
  rg->set_bytes_written(1 << 17);
  rg->set_key_rejects(1);
  s.regions.set_total_bytes(3 << 20);

  s.sfbuf.set_in_use(12);
  s.sfbuf.set_peak(40);
  s.sfbuf.set_max(1024);
  s.sfbuf.set_waits(3);
  s.sfbuf.set_failures(1);
  s.sfbuf.set_hits(900);
  s.sfbuf.set_misses(100);

  GetCountersResponse& k = s.counters;
  MessageCounters* m = k.mutable_messages();
  m->set_to_mesh(500);
  m->set_from_mesh(400);
  m->set_frames_in(1000);
  m->set_frames_out(1100);
  m->set_frames_forwarded(30);
  m->set_dma_bytes_to_mesh(1 << 20);
  m->set_dma_bytes_from_mesh(1 << 19);
  m->set_dma_bytes_copied(1 << 18);
  m->set_window_waits(12);
  m->set_congestion_waits(3);
  k.set_replies_synthesized(6);
  (*k.mutable_rejects())["malformed"] = 2;
  (*k.mutable_rejects())["credentials"] = 1;
  (*k.mutable_drops())["late_reply"] = 4;
  LoopCounters* lc = k.mutable_loop();
  lc->set_poll_hits(7000);
  lc->set_poll_misses(300);
  lc->set_poll_idle_us(2500000);
  lc->set_poll_window_us(160);
  ClientCounters* cc = k.mutable_clients();
  cc->set_accepted(50);
  cc->set_refused_credentials(1);
  cc->set_refused_limit(0);
  cc->set_malformed(2);
  cc->set_overflowed(0);
  SessionCounters* sc = k.mutable_sessions();
  sc->set_listens(2);
  sc->set_connects(20);
  sc->set_connects_ok(15);
  sc->set_connects_refused(2);
  sc->set_connects_timeout(1);
  sc->set_connects_limited(1);
  sc->set_connects_unreachable(1);
  sc->set_opened(15);
  sc->set_closed(13);
  sc->set_remote_opens(5);
  sc->set_remote_opens_failed(1);
  MeshCounters* mc = k.mutable_mesh();
  mc->set_connections_accepted(3);
  mc->set_dials(4);
  mc->set_dial_failures(1);
  mc->set_handshakes_ok(3);
  (*mc->mutable_handshakes_failed())["wrong_key"] = 1;
  mc->set_links_up(3);
  mc->set_links_down(2);
  (*mc->mutable_links_closed())["dead"] = 1;
  (*mc->mutable_links_closed())["peer_closed"] = 1;
  mc->set_link_bytes_in(3000000);
  mc->set_link_bytes_out(4000000);
  mc->set_data_frames_in(900);
  mc->set_data_frames_out(950);
  mc->set_data_bytes_in(2500000);
  mc->set_data_bytes_out(3500000);
  mc->set_heartbeats_in(10000);
  mc->set_heartbeats_out(10001);
  mc->set_lsas_in(20);
  mc->set_lsas_installed(15);
  mc->set_lsas_originated(5);
  mc->set_spf_runs(16);
  mc->set_probe_requests(9);

  s.drain.set_was_draining(false);
  s.drain.set_sessions(2);
  s.drain.set_services(2);

  s.ping["node-a"] = {absl::ZeroDuration()};
  s.ping["node-b"] = {absl::Microseconds(250)};
  s.ping["node-c"] = {absl::Microseconds(1500)};
  std::vector<TraceHop> hops(2);
  hops[0].set_hop(1);
  hops[0].set_node_id(0xb);
  hops[0].set_name("node-b");
  hops[0].set_rtt_us(200);
  hops[1].set_hop(2);
  hops[1].set_node_id(0xc);
  hops[1].set_name("node-c");
  hops[1].set_rtt_us(1500);
  s.trace["node-c"] = hops;
  s.trace["node-b"] = std::vector<TraceHop>(hops.begin(), hops.begin() + 1);
  s.trace["node-a"] = std::vector<TraceHop>();
  return s;
}

void FakeAdminBackend::Mutate(const std::function<void(State&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  fn(state_);
}

std::vector<std::string> FakeAdminBackend::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

size_t FakeAdminBackend::kept_callbacks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kept_pings_.size();
}

template <typename T>
absl::StatusOr<T> FakeAdminBackend::Answer(const char* name, const T& value) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(name);
  if (!state_.query_error.ok()) return state_.query_error;
  return value;
}

absl::StatusOr<GetStatusResponse> FakeAdminBackend::GetStatus() {
  return Answer("GetStatus", state_.status);
}
absl::StatusOr<ListNodesResponse> FakeAdminBackend::ListNodes() {
  return Answer("ListNodes", state_.nodes);
}
absl::StatusOr<ListLinksResponse> FakeAdminBackend::ListLinks() {
  return Answer("ListLinks", state_.links);
}
absl::StatusOr<ListRoutesResponse> FakeAdminBackend::ListRoutes() {
  return Answer("ListRoutes", state_.routes);
}
absl::StatusOr<ListServicesResponse> FakeAdminBackend::ListServices() {
  return Answer("ListServices", state_.services);
}
absl::StatusOr<GetSfBufStatsResponse> FakeAdminBackend::GetSfBufStats() {
  return Answer("GetSfBufStats", state_.sfbuf);
}
absl::StatusOr<GetCountersResponse> FakeAdminBackend::GetCounters() {
  return Answer("GetCounters", state_.counters);
}

absl::StatusOr<ListSessionsResponse> FakeAdminBackend::ListSessions(const std::string& service,
                                                                    size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(absl::StrCat("ListSessions ", service, " ", limit));
  if (!state_.query_error.ok()) return state_.query_error;
  ListSessionsResponse r;
  uint64_t total = 0;
  for (const Session& s : state_.sessions.sessions()) {
    if (!service.empty() && s.service() != service) continue;
    total++;
    if (static_cast<size_t>(r.sessions_size()) < limit) *r.add_sessions() = s;
  }
  r.set_total(total);
  return r;
}

absl::StatusOr<ListRegionsResponse> FakeAdminBackend::ListRegions(size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(absl::StrCat("ListRegions ", limit));
  if (!state_.query_error.ok()) return state_.query_error;
  ListRegionsResponse r;
  for (const Region& g : state_.regions.regions()) {
    if (static_cast<size_t>(r.regions_size()) < limit) *r.add_regions() = g;
  }
  r.set_total(state_.regions.regions_size());
  r.set_total_bytes(state_.regions.total_bytes());
  return r;
}

void FakeAdminBackend::Ping(const std::string& node, absl::Duration timeout, PingDone done) {
  absl::StatusOr<absl::Duration> result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(absl::StrCat("Ping ", node, " ", absl::ToInt64Milliseconds(timeout), "ms"));
    auto it = state_.ping.find(node);
    if (it == state_.ping.end()) {
      result = absl::UnavailableError(absl::StrCat("no route to ", node));
    } else if (it->second.empty()) {
      kept_pings_.push_back(std::move(done));
      return;
    } else {
      result = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
    }
  }
  done(std::move(result));
}

void FakeAdminBackend::Trace(const std::string& node, absl::Duration timeout, TraceDone done) {
  absl::StatusOr<std::vector<TraceHop>> result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(absl::StrCat("Trace ", node, " ", absl::ToInt64Milliseconds(timeout), "ms"));
    auto it = state_.trace.find(node);
    result = it == state_.trace.end()
                 ? absl::StatusOr<std::vector<TraceHop>>(
                       absl::UnavailableError(absl::StrCat("no route to ", node)))
                 : it->second;
  }
  done(std::move(result));
}

absl::StatusOr<DrainResponse> FakeAdminBackend::Drain() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back("Drain");
  if (!state_.query_error.ok()) return state_.query_error;
  DrainResponse r = state_.drain;
  state_.drain.set_was_draining(true);
  state_.status.set_draining(true);
  return r;
}

}  // namespace admin
}  // namespace meshd
