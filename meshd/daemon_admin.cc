#include "meshd/daemon_admin.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/ascii.h"

namespace meshd {

const char kMeshdVersion[] = "0.1.0";

namespace {

int64_t NowUnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t UnixMs(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}

admin::Link::State ToLinkState(LinkState s) {
  switch (s) {
    case LinkState::kConnecting: return admin::Link::CONNECTING;
    case LinkState::kHandshake: return admin::Link::HANDSHAKE;
    case LinkState::kEstablished: return admin::Link::ESTABLISHED;
    case LinkState::kClosing: return admin::Link::CLOSING;
  }
  return admin::Link::STATE_UNSPECIFIED;
}

// "Wrong Key" -> "wrong_key": map keys in the API are snake_case.
std::string Key(const char* name) {
  std::string k = absl::AsciiStrToLower(name);
  for (char& c : k) {
    if (!absl::ascii_isalnum(c)) c = '_';
  }
  return k;
}

}  // namespace

absl::StatusOr<admin::GetStatusResponse> DaemonAdmin::GetStatus() {
  const config::MeshdConfig& c = *p_.config;
  admin::GetStatusResponse r;
  r.set_version(kMeshdVersion);
  r.set_node_name(c.node().name());
  r.set_node_id(c.node().id());
  r.set_pid(getpid());
  r.set_started_unix_ms(p_.started_unix_ms);
  r.set_uptime_ms(static_cast<uint64_t>(std::max<int64_t>(0, NowUnixMs() - p_.started_unix_ms)));
  r.set_draining(p_.draining && p_.draining());
  admin::ConfigSummary* cs = r.mutable_config();
  cs->set_config_file(p_.config_file);
  cs->set_client_socket_path(c.client().socket_path());
  cs->set_admin_socket_path(c.admin().socket_path());
  cs->set_admin_tcp_address(c.admin().tcp_address());
  cs->set_mesh_listen_address(c.mesh().listen_address());
  for (const auto& peer : c.mesh().peers()) cs->add_peers(peer.address());
  cs->set_metrics_address(c.metrics().address());
  cs->set_max_nodes(c.mesh().max_nodes());
  cs->set_max_clients(c.client().max_clients());
  cs->set_max_services(c.client().max_services());
  cs->set_sfbuf_pool_pages(c.regions().sfbuf_pool_pages());
  cs->set_busy_poll_us(c.mesh().busy_poll_us());
  if (p_.mesh != nullptr) {
    const std::vector<std::string> ids = p_.mesh->ClusterKeyIds();
    cs->set_cluster_key_id(ids[0]);
    for (size_t i = 1; i < ids.size(); i++) cs->add_accepted_key_ids(ids[i]);
  }
  cs->set_log_level(Key(config::LogConfig::Level_Name(c.log().level()).c_str()));
  admin::HealthSummary* h = r.mutable_health();
  h->set_clients(static_cast<uint32_t>(p_.clients->client_count()));
  h->set_services(static_cast<uint32_t>(p_.broker->Services().size()));
  uint32_t local = 0, remote = 0, transit = 0;
  for (const auto& s : p_.broker->Sessions()) local += s.kind == "local";
  if (p_.relay != nullptr) {
    for (const auto& s : p_.relay->Sessions()) {
      if (s.role == "transit") {
        transit++;
      } else {
        remote++;
      }
    }
  }
  if (p_.regions != nullptr) {
    h->set_regions(static_cast<uint32_t>(p_.regions->size()));
    h->set_region_bytes(p_.regions->bytes());
  }
  h->set_sessions_local(local);
  h->set_sessions_remote(remote);
  h->set_sessions_transit(transit);
  if (p_.mesh != nullptr) {
    uint32_t known = 0, reachable = 0, links = 0, up = 0;
    for (const auto& n : p_.mesh->Nodes()) {
      known++;
      reachable += n.reachable || n.self;
    }
    for (const auto& l : p_.mesh->Links()) links += l.state == LinkState::kEstablished;
    for (const auto& d : p_.mesh->Dialers()) up += d.state == "up";
    h->set_nodes_known(known);
    h->set_nodes_reachable(reachable);
    h->set_links_established(links);
    h->set_peers_configured(static_cast<uint32_t>(c.mesh().peers_size()));
    h->set_peers_up(up);
  } else {
    h->set_nodes_known(1);
    h->set_nodes_reachable(1);
  }
  return r;
}

absl::StatusOr<admin::ListNodesResponse> DaemonAdmin::ListNodes() {
  admin::ListNodesResponse r;
  if (p_.mesh == nullptr) {
    admin::Node* n = r.add_nodes();
    n->set_id(p_.config->node().id());
    n->set_name(p_.config->node().name());
    n->set_state(admin::Node::SELF);
    return r;
  }
  std::vector<NodeInfo> nodes = p_.mesh->Nodes();
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  auto name_of = [&](NodeId id) {
    for (const auto& n : nodes) {
      if (n.id == id) return n.name;
    }
    return std::string();
  };
  for (const auto& in : nodes) {
    admin::Node* n = r.add_nodes();
    n->set_id(in.id);
    n->set_name(in.name);
    n->set_state(in.self ? admin::Node::SELF
                         : in.reachable ? admin::Node::REACHABLE : admin::Node::UNREACHABLE);
    n->set_lsa_seq(in.lsa_seq);
    n->set_neighbors(in.neighbors);
    n->set_next_hop_link(in.next_hop_link);
    n->set_next_hop_node(in.next_hop_node);
    n->set_next_hop_name(name_of(in.next_hop_node));
    n->set_cost(in.cost);
    n->set_hops(in.hops);
    n->set_lsa_age_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(in.lsa_age)));
  }
  return r;
}

absl::StatusOr<admin::ListLinksResponse> DaemonAdmin::ListLinks() {
  admin::ListLinksResponse r;
  if (p_.mesh == nullptr) return r;
  std::vector<LinkInfo> links = p_.mesh->Links();
  std::sort(links.begin(), links.end(),
            [](const LinkInfo& a, const LinkInfo& b) { return a.id < b.id; });
  for (const auto& in : links) {
    admin::Link* l = r.add_links();
    l->set_id(in.id);
    l->set_peer_id(in.peer_id);
    l->set_peer_name(in.peer_name);
    l->set_local_address(in.local_address);
    l->set_remote_address(in.remote_address);
    l->set_state(ToLinkState(in.state));
    l->set_dialed(in.dialed);
    l->set_rtt_us(static_cast<uint64_t>(absl::ToInt64Microseconds(in.rtt)));
    l->set_bytes_in(in.bytes_in);
    l->set_bytes_out(in.bytes_out);
    l->set_frames_in(in.frames_in);
    l->set_frames_out(in.frames_out);
    l->set_queued_bytes(in.queued_bytes);
    l->set_congested(in.congested);
    l->set_read_paused(in.read_paused);
    l->set_created_unix_ms(UnixMs(in.created));
    l->set_up_since_unix_ms(UnixMs(in.up_since));
    l->set_peer_key_accepted(in.peer_key_accepted);
  }
  for (const auto& d : p_.mesh->Dialers()) {
    admin::Peer* peer = r.add_peers();
    peer->set_address(d.address);
    peer->set_expected_name(d.expected_name);
    peer->set_state(d.state);
    peer->set_link(d.link);
    peer->set_attempts(d.attempts);
    peer->set_consecutive_failures(d.consecutive_failures);
    peer->set_last_error(d.last_error);
    peer->set_backoff_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(d.backoff)));
  }
  return r;
}

absl::StatusOr<admin::ListRoutesResponse> DaemonAdmin::ListRoutes() {
  admin::ListRoutesResponse r;
  if (p_.mesh == nullptr) return r;
  std::vector<NodeInfo> all = p_.mesh->Nodes();
  std::vector<NodeInfo> routes = p_.mesh->Routes();
  std::sort(routes.begin(), routes.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  for (const auto& in : routes) {
    admin::Route* rt = r.add_routes();
    rt->set_node_id(in.id);
    rt->set_node_name(in.name);
    rt->set_next_hop_link(in.next_hop_link);
    rt->set_next_hop_node(in.next_hop_node);
    for (const auto& n : all) {
      if (n.id == in.next_hop_node) rt->set_next_hop_name(n.name);
    }
    rt->set_cost(in.cost);
    rt->set_hops(in.hops);
  }
  return r;
}

absl::StatusOr<admin::ListSessionsResponse> DaemonAdmin::ListSessions(const std::string& service,
                                                                      size_t limit) {
  std::vector<admin::Session> all;
  const std::string& self = p_.config->node().name();
  for (const auto& s : p_.broker->Sessions()) {
    admin::Session out;
    out.set_sessid(s.sessid);
    out.set_service(s.service);
    out.set_service_node(self);
    out.set_service_pid(s.service_pid);
    out.set_opened_unix_ms(s.opened_unix_ms);
    if (s.kind == "local") {
      out.set_kind(admin::Session::LOCAL);
      out.set_client_node(self);
      out.set_client_pid(s.client_pid);
      out.set_client_uid(s.client_uid);
    } else {
      continue;  // a remote session's service edge: listed from the relay below
    }
    all.push_back(std::move(out));
  }
  if (p_.relay != nullptr) {
    for (const auto& s : p_.relay->Sessions()) {
      admin::Session out;
      out.set_sessid(s.sessid);
      out.set_service(s.service);
      out.set_link(s.link);
      out.set_window_used_bytes(s.window_used);
      out.set_queued_bytes(s.queued_bytes);
      out.set_msgs_in(s.msgs_in);
      out.set_msgs_out(s.msgs_out);
      if (s.role == "client-edge") {
        out.set_kind(admin::Session::CLIENT_EDGE);
        out.set_client_node(self);
        out.set_service_node(s.peer_node);
      } else if (s.role == "service-edge") {
        out.set_kind(admin::Session::SERVICE_EDGE);
        out.set_client_node(s.peer_node);
        out.set_service_node(self);
        for (const auto& b : p_.broker->Sessions()) {
          if (b.sessid == s.sessid) {
            out.set_service_pid(b.service_pid);
            out.set_opened_unix_ms(b.opened_unix_ms);
          }
        }
      } else {
        out.set_kind(admin::Session::TRANSIT);
      }
      all.push_back(std::move(out));
    }
  }
  std::sort(all.begin(), all.end(), [](const admin::Session& a, const admin::Session& b) {
    return a.sessid() < b.sessid();
  });
  admin::ListSessionsResponse r;
  uint64_t total = 0;
  for (auto& s : all) {
    if (!service.empty() && s.service() != service) continue;
    total++;
    if (limit == 0 || static_cast<size_t>(r.sessions_size()) < limit) {
      *r.add_sessions() = std::move(s);
    }
  }
  r.set_total(total);
  return r;
}

absl::StatusOr<admin::ListServicesResponse> DaemonAdmin::ListServices() {
  auto services = p_.broker->Services();
  std::sort(services.begin(), services.end(),
            [](const Broker::ServiceInfo& a, const Broker::ServiceInfo& b) {
              return a.name < b.name;
            });
  admin::ListServicesResponse r;
  for (const auto& s : services) {
    admin::Service* out = r.add_services();
    out->set_name(s.name);
    out->set_pid(s.pid);
    out->set_uid(s.uid);
    out->set_sessions(s.sessions);
  }
  return r;
}

absl::StatusOr<admin::ListRegionsResponse> DaemonAdmin::ListRegions(size_t limit) {
  admin::ListRegionsResponse r;
  if (p_.regions == nullptr) return r;
  for (const RegionTable::Region* g : p_.regions->List()) {  // (ordered by slot)
    if (limit != 0 && static_cast<size_t>(r.regions_size()) >= limit) break;
    admin::Region* out = r.add_regions();
    out->set_id(g->slot);
    out->set_generation(g->generation);
    out->set_owner_pid(g->owner_pid);
    out->set_owner_uid(g->owner_uid);
    out->set_bytes(g->length);
    out->set_readable(g->access & SL_REGION_READ);
    out->set_writable(g->access & SL_REGION_WRITE);
    out->set_registered_unix_ms(g->registered_unix_ms);
    out->set_reads(g->reads);
    out->set_writes(g->writes);
    out->set_bytes_read(g->bytes_read);
    out->set_bytes_written(g->bytes_written);
    out->set_key_rejects(g->key_rejects);
  }
  r.set_total(p_.regions->size());
  r.set_total_bytes(p_.regions->bytes());
  return r;
}

absl::StatusOr<admin::GetSfBufStatsResponse> DaemonAdmin::GetSfBufStats() {
  admin::GetSfBufStatsResponse r;
  if (p_.sfbuf == nullptr) return r;
  const struct sl_sfbuf_stats st = p_.sfbuf->Stats();
  r.set_in_use(st.in_use);
  r.set_peak(st.peak);
  r.set_max(st.max);
  r.set_waits(st.waits);
  r.set_failures(st.failures);
  r.set_hits(st.hits);
  r.set_misses(st.misses);
  return r;
}

absl::StatusOr<admin::GetCountersResponse> DaemonAdmin::GetCounters() {
  admin::GetCountersResponse r;
  const Broker::Counters& b = p_.broker->counters();
  const ClientServer::Counters& cl = p_.clients->counters();
  admin::ClientCounters* cc = r.mutable_clients();
  cc->set_accepted(cl.accepted);
  cc->set_refused_credentials(cl.refused_credentials);
  cc->set_refused_limit(cl.refused_limit);
  cc->set_malformed(cl.malformed);
  cc->set_overflowed(cl.overflowed);
  admin::SessionCounters* sc = r.mutable_sessions();
  sc->set_listens(b.listens);
  sc->set_listens_refused(b.listen_refused);
  sc->set_connects(b.connects);
  sc->set_connects_ok(b.connects_ok);
  sc->set_connects_refused(b.connect_refused);
  sc->set_connects_timeout(b.connect_timeouts);
  sc->set_connects_limited(b.connect_limited);
  sc->set_connects_unreachable(b.connect_unreachable);
  sc->set_opened(b.sessions_opened);
  sc->set_closed(b.sessions_closed);
  auto& rejects = *r.mutable_rejects();
  auto& drops = *r.mutable_drops();
  rejects["malformed"] = cl.malformed;
  rejects["credentials"] = cl.refused_credentials;
  rejects["client_limit"] = cl.refused_limit;
  rejects["bad_request"] = b.bad_requests;
  if (p_.relay != nullptr) {
    const Relay::Counters& rc = p_.relay->counters();
    sc->set_remote_opens(rc.opens);
    sc->set_remote_opens_failed(rc.opens_failed);
    // CONNECTs to other nodes end in the relay: count their outcome here.
    sc->set_connects_ok(b.connects_ok + rc.opens_ok);
    sc->set_connects_refused(b.connect_refused + rc.opens_failed);
    sc->set_teardowns_link_down(rc.teardowns_link_down);
    sc->set_teardowns_unreachable(rc.teardowns_unreachable);
    admin::MessageCounters* mc = r.mutable_messages();
    mc->set_to_mesh(rc.msgs_to_mesh);
    mc->set_from_mesh(rc.msgs_to_local);
    mc->set_frames_in(rc.frames_in);
    mc->set_frames_out(rc.frames_out);
    mc->set_frames_forwarded(rc.frames_forwarded);
    mc->set_dma_bytes_to_mesh(rc.dma_bytes_to_mesh);
    mc->set_dma_bytes_from_mesh(rc.dma_bytes_to_local);
    mc->set_dma_bytes_copied(rc.dma_bytes_copied);
    mc->set_window_waits(rc.window_waits);
    mc->set_congestion_waits(rc.congestion_waits);
    rejects["bad_frame"] = rc.bad_frames;
    rejects["refused_message"] = rc.refused_messages;
    rejects["unknown_session"] = rc.unknown_session;
    drops["late_reply"] = rc.late_replies;
    // Replies meshd's relay links synthesized for the far side (a local
    // process died with commands of the far side outstanding).
    r.set_replies_synthesized(0);
  }
  if (p_.regions != nullptr) {
    const RegionTable::Counters& t = p_.regions->counters();
    admin::RegionCounters* rg = r.mutable_regions();
    rg->set_registered(t.registered);
    rg->set_register_refused(t.register_refused);
    rg->set_deregistered(t.deregistered);
    rg->set_dropped_with_owner(t.dropped_with_owner);
    rg->set_reads(t.reads);
    rg->set_writes(t.writes);
    rg->set_bytes_read(t.bytes_read);
    rg->set_bytes_written(t.bytes_written);
    rejects["region_unknown_key"] = t.refused_unknown;
    rejects["region_forged_key"] = t.refused_secret;
    rejects["region_access"] = t.refused_access;
    rejects["region_bounds"] = t.refused_bounds;
    rejects["region_malformed"] = t.refused_malformed;
    if (p_.region_server != nullptr) {
      const RegionServer::Counters& sc2 = p_.region_server->counters();
      rg->set_sessions(sc2.sessions_opened);
      rg->set_sfbuf_failures(sc2.sfbuf_failures);
      admin::MessageCounters* mc = r.mutable_messages();
      mc->set_dma_bytes_copied(mc->dma_bytes_copied() + sc2.dma_bytes_copied);
    }
  }
  if (p_.loop != nullptr) {
    admin::LoopCounters* lc = r.mutable_loop();
    lc->set_poll_hits(p_.loop->hits);
    lc->set_poll_misses(p_.loop->misses);
    lc->set_poll_idle_us(p_.loop->polled_ns / 1000);
    lc->set_poll_window_us(p_.loop->poll_ns / 1000);
  }
  if (p_.mesh != nullptr) {
    const MeshCounters& m = p_.mesh->counters();
    admin::MeshCounters* mm = r.mutable_mesh();
    mm->set_connections_accepted(m.connections_accepted);
    mm->set_connections_refused(m.connections_refused);
    mm->set_dials(m.dials);
    mm->set_dial_failures(m.dial_failures);
    mm->set_handshakes_ok(m.handshakes_ok);
    for (size_t i = 0; i < m.handshakes_failed.size(); i++) {
      if (m.handshakes_failed[i] != 0) {
        (*mm->mutable_handshakes_failed())[Key(
            HandshakeFailureName(static_cast<HandshakeFailure>(i)))] = m.handshakes_failed[i];
      }
    }
    mm->set_links_up(m.links_up);
    mm->set_links_down(m.links_down);
    for (size_t i = 0; i < m.links_closed.size(); i++) {
      if (m.links_closed[i] != 0) {
        (*mm->mutable_links_closed())[Key(
            LinkCloseReasonName(static_cast<LinkCloseReason>(i)))] = m.links_closed[i];
      }
    }
    for (size_t i = 0; i < m.protocol_errors.size(); i++) {
      if (m.protocol_errors[i] != 0) {
        (*mm->mutable_protocol_errors())[Key(
            ProtocolErrorName(static_cast<ProtocolError>(i)))] = m.protocol_errors[i];
      }
    }
    uint64_t bytes_in = 0, bytes_out = 0;
    for (const auto& l : p_.mesh->Links()) {
      bytes_in += l.bytes_in;
      bytes_out += l.bytes_out;
    }
    mm->set_link_bytes_in(bytes_in);  // links up now (closed links' bytes are not kept)
    mm->set_link_bytes_out(bytes_out);
    mm->set_data_frames_in(m.data_frames_in);
    mm->set_data_frames_out(m.data_frames_out);
    mm->set_data_bytes_in(m.data_bytes_in);
    mm->set_data_bytes_out(m.data_bytes_out);
    mm->set_frames_dropped(m.frames_dropped);
    mm->set_bytes_dropped(m.bytes_dropped);
    mm->set_heartbeats_in(m.heartbeats_in);
    mm->set_heartbeats_out(m.heartbeats_out);
    mm->set_lsas_in(m.lsas_in);
    mm->set_lsas_installed(m.lsas_installed);
    mm->set_lsas_originated(m.lsas_originated);
    mm->set_spf_runs(m.spf_runs);
    mm->set_probes_in(m.probes_in);
    mm->set_probes_forwarded(m.probes_forwarded);
    mm->set_probe_requests(m.probe_requests);
    mm->set_probe_timeouts(m.probe_timeouts);
    drops["link_closed"] = m.frames_dropped;
  }
  return r;
}

void DaemonAdmin::Ping(const std::string& node, absl::Duration timeout, PingDone done) {
  if (p_.mesh == nullptr) {
    if (node == p_.config->node().name()) return done(absl::ZeroDuration());
    return done(absl::NotFoundError("no mesh: " + node + " is not this node"));
  }
  const std::optional<NodeId> id = p_.mesh->Resolve(node);
  if (!id.has_value()) return done(absl::UnavailableError("no route to " + node));
  p_.mesh->Ping(*id, std::move(done), timeout);
}

void DaemonAdmin::Trace(const std::string& node, absl::Duration timeout, TraceDone done) {
  if (p_.mesh == nullptr) return done(absl::NotFoundError("no mesh: no route to " + node));
  const std::optional<NodeId> id = p_.mesh->Resolve(node);
  if (!id.has_value()) return done(absl::UnavailableError("no route to " + node));
  p_.mesh->Trace(
      *id,
      [done = std::move(done)](absl::StatusOr<std::vector<meshd::TraceHop>> hops) {
        if (!hops.ok()) return done(hops.status());
        std::vector<admin::TraceHop> out;
        uint32_t i = 1;
        for (const auto& h : *hops) {
          admin::TraceHop t;
          t.set_hop(i++);
          t.set_node_id(h.node);
          t.set_name(h.name);
          t.set_rtt_us(static_cast<uint64_t>(absl::ToInt64Microseconds(h.rtt)));
          out.push_back(std::move(t));
        }
        done(std::move(out));
      },
      timeout);
}

absl::StatusOr<admin::DrainResponse> DaemonAdmin::Drain() {
  admin::DrainResponse r;
  r.set_was_draining(p_.draining && p_.draining());
  if (p_.start_draining) p_.start_draining();
  uint32_t sessions = static_cast<uint32_t>(p_.broker->session_count());
  if (p_.relay != nullptr) sessions += static_cast<uint32_t>(p_.relay->session_count());
  r.set_sessions(sessions);
  r.set_services(static_cast<uint32_t>(p_.broker->Services().size()));
  return r;
}

}  // namespace meshd
