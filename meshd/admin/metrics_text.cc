#include "meshd/admin/metrics_text.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshd {
namespace admin {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// [a-z0-9_], at most 64 characters; "other" if nothing is left.
std::string CleanReason(const std::string& reason) {
  std::string r;
  for (char c : reason.substr(0, 64)) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    r += ok ? c : '_';
  }
  return r.empty() ? "other" : r;
}

// MAP's reasons, cleaned and sorted; past kMaxReasonLabels (and RESERVED,
// a value the family uses itself), added up under "other".
template <typename Map>
std::map<std::string, uint64_t> BoundReasons(const Map& map, const std::string& reserved = "") {
  std::map<std::string, uint64_t> sorted;
  for (const auto& [k, v] : map) {
    std::string c = CleanReason(k);
    sorted[c == reserved ? "other" : c] += v;
  }
  std::map<std::string, uint64_t> out;
  uint64_t other = 0;
  bool has_other = false;
  for (const auto& [k, v] : sorted) {
    if (k == "other" || out.size() >= kMaxReasonLabels - 1) {
      other += v;
      has_other = true;
    } else {
      out[k] = v;
    }
  }
  if (has_other) out["other"] = other;
  return out;
}

// Writes families in the text format: HELP and TYPE once, then samples.
class Writer {
 public:
  // Starts family NAME of TYPE ("counter", "gauge").
  void Family(const char* name, const char* type, const char* help) {
    name_ = name;
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(uint64_t value, const Labels& labels = {}) {
    Line(labels);
    absl::StrAppend(&out_, value, "\n");
  }
  void SampleDouble(double value, const Labels& labels = {}) {
    Line(labels);
    absl::StrAppend(&out_, absl::StrFormat("%.6f", value), "\n");
  }
  // One family with one unlabelled sample.
  void Counter(const char* name, const char* help, uint64_t value) {
    Family(name, "counter", help);
    Sample(value);
  }
  void Gauge(const char* name, const char* help, uint64_t value) {
    Family(name, "gauge", help);
    Sample(value);
  }
  // A counter family with one sample per reason in MAP (bounded, sorted).
  template <typename Map>
  void ReasonCounter(const char* name, const char* label, const char* help, const Map& map) {
    Family(name, "counter", help);
    for (const auto& [reason, value] : BoundReasons(map)) Sample(value, {{label, reason}});
  }
  std::string Take() { return std::move(out_); }

 private:
  void Line(const Labels& labels) {
    out_ += name_;
    if (labels.empty()) {
      out_ += ' ';
      return;
    }
    out_ += '{';
    for (size_t i = 0; i < labels.size(); i++) {
      if (i > 0) out_ += ',';
      absl::StrAppend(&out_, labels[i].first, "=\"", Escape(labels[i].second), "\"");
    }
    out_ += "} ";
  }

  static std::string Escape(const std::string& v) {
    std::string e;
    for (char c : v) {
      if (c == '\\') {
        e += "\\\\";
      } else if (c == '"') {
        e += "\\\"";
      } else if (c == '\n') {
        e += "\\n";
      } else {
        e += c;
      }
    }
    return e;
  }

  std::string out_;
  const char* name_ = "";
};

void RenderStatus(const GetStatusResponse& s, Writer& w) {
  w.Family("meshd_build_info", "gauge", "Always 1; labels: meshd's version and node name.");
  w.Sample(1, {{"version", s.version()}, {"node", s.node_name()}});
  w.Family("meshd_start_time_seconds", "gauge", "When meshd started, in seconds since the Unix epoch.");
  w.SampleDouble(static_cast<double>(s.started_unix_ms()) / 1000.0);
  w.Family("meshd_uptime_seconds", "gauge", "Seconds since meshd started.");
  w.SampleDouble(static_cast<double>(s.uptime_ms()) / 1000.0);
  w.Gauge("meshd_draining", "1 if meshd refuses new sessions (drain), else 0.", s.draining() ? 1 : 0);
  const HealthSummary& h = s.health();
  w.Gauge("meshd_clients", "Processes connected to the client socket.", h.clients());
  w.Gauge("meshd_services", "Services published on this node.", h.services());
  w.Family("meshd_sessions", "gauge",
           "Open sessions, by kind: local (both ends here), remote (one end here), transit "
           "(forwarded).");
  w.Sample(h.sessions_local(), {{"kind", "local"}});
  w.Sample(h.sessions_remote(), {{"kind", "remote"}});
  w.Sample(h.sessions_transit(), {{"kind", "transit"}});
  w.Family("meshd_mesh_nodes", "gauge",
           "Nodes in the link-state database (this one included), by reachability.");
  w.Sample(h.nodes_reachable(), {{"state", "reachable"}});
  w.Sample(h.nodes_known() >= h.nodes_reachable() ? h.nodes_known() - h.nodes_reachable() : 0,
           {{"state", "unreachable"}});
  w.Gauge("meshd_mesh_peers_configured", "Peers in the configuration.", h.peers_configured());
  w.Gauge("meshd_mesh_peers_up", "Configured peers with an established link.", h.peers_up());
  w.Gauge("meshd_regions", "Memory regions registered with this node.", h.regions());
  w.Gauge("meshd_region_bytes", "Bytes of memory in registered regions.", h.region_bytes());
}

void RenderLinks(const ListLinksResponse& links, Writer& w) {
  uint64_t by_state[5] = {};
  uint64_t queued = 0;
  uint64_t rtt_max_us = 0;
  for (const Link& l : links.links()) {
    const int s = l.state();
    if (s >= 0 && s < 5) by_state[s]++;
    queued += l.queued_bytes();
    if (l.state() == Link::ESTABLISHED) rtt_max_us = std::max(rtt_max_us, l.rtt_us());
  }
  w.Family("meshd_mesh_links", "gauge", "Links to other nodes, by state.");
  w.Sample(by_state[Link::CONNECTING], {{"state", "connecting"}});
  w.Sample(by_state[Link::HANDSHAKE], {{"state", "handshake"}});
  w.Sample(by_state[Link::ESTABLISHED], {{"state", "established"}});
  w.Sample(by_state[Link::CLOSING], {{"state", "closing"}});
  w.Gauge("meshd_mesh_link_queued_bytes", "Bytes queued for sending, summed over every link.",
          queued);
  w.Family("meshd_mesh_link_rtt_max_seconds", "gauge",
           "The largest last heartbeat round trip over established links (0 if none).");
  w.SampleDouble(static_cast<double>(rtt_max_us) / 1e6);
}

void RenderSfBuf(const GetSfBufStatsResponse& s, Writer& w) {
  w.Gauge("meshd_sfbuf_in_use", "sf_buf page mappings referenced now.", s.in_use());
  w.Gauge("meshd_sfbuf_peak", "The most sf_buf page mappings referenced at once.", s.peak());
  w.Gauge("meshd_sfbuf_max", "Size of meshd's sf_buf pool, in page mappings.", s.max());
  w.Counter("meshd_sfbuf_waits_total", "sf_buf allocations that waited for a free slot.", s.waits());
  w.Counter("meshd_sfbuf_failures_total", "sf_buf allocations that failed.", s.failures());
  w.Counter("meshd_sfbuf_hits_total", "sf_buf allocations that found the page mapped.", s.hits());
  w.Counter("meshd_sfbuf_misses_total", "sf_buf allocations that had to map the page.", s.misses());
}

void RenderCounters(const GetCountersResponse& c, Writer& w) {
  const MessageCounters& m = c.messages();
  w.Family("meshd_messages_total", "counter",
           "Session messages carried between local processes and the mesh, by direction.");
  w.Sample(m.to_mesh(), {{"direction", "to_mesh"}});
  w.Sample(m.from_mesh(), {{"direction", "from_mesh"}});
  w.Family("meshd_relay_frames_total", "counter",
           "Session relay frames, by direction (forwarded: in transit through this node).");
  w.Sample(m.frames_in(), {{"direction", "in"}});
  w.Sample(m.frames_out(), {{"direction", "out"}});
  w.Sample(m.frames_forwarded(), {{"direction", "forwarded"}});
  w.Family("meshd_dma_bytes_total", "counter", "DMA (bulk) bytes of remote sessions, by direction.");
  w.Sample(m.dma_bytes_to_mesh(), {{"direction", "to_mesh"}});
  w.Sample(m.dma_bytes_from_mesh(), {{"direction", "from_mesh"}});
  w.Counter("meshd_dma_copied_bytes_total", "DMA bytes copied in user space on this node.",
            m.dma_bytes_copied());
  w.Family("meshd_session_waits_total", "counter",
           "Times a remote session's edge here stopped reading its local process, by reason "
           "(window: waiting for credit from the far side; congestion: the mesh link pushed back).");
  w.Sample(m.window_waits(), {{"reason", "window"}});
  w.Sample(m.congestion_waits(), {{"reason", "congestion"}});
  w.Counter("meshd_replies_synthesized_total",
            "Replies meshd made itself so that a command still got exactly one.",
            c.replies_synthesized());
  w.ReasonCounter("meshd_rejects_total", "reason", "Requests, frames and messages refused, by reason.",
                  c.rejects());
  w.ReasonCounter("meshd_drops_total", "reason", "Things discarded, by reason.", c.drops());

  const ClientCounters& cl = c.clients();
  w.Family("meshd_client_connections_total", "counter",
           "Connections to the client socket, by result.");
  w.Sample(cl.accepted(), {{"result", "accepted"}});
  w.Sample(cl.refused_credentials(), {{"result", "refused_credentials"}});
  w.Sample(cl.refused_limit(), {{"result", "refused_limit"}});
  w.Family("meshd_client_disconnects_total", "counter",
           "Client connections meshd closed, by reason.");
  w.Sample(cl.malformed(), {{"reason", "malformed"}});
  w.Sample(cl.overflowed(), {{"reason", "overflowed"}});

  const SessionCounters& s = c.sessions();
  w.Counter("meshd_listen_requests_total", "LISTEN requests (services published).", s.listens());
  w.Counter("meshd_listen_refused_total", "LISTEN requests refused.", s.listens_refused());
  w.Counter("meshd_connect_requests_total", "CONNECT requests.", s.connects());
  w.Family("meshd_connects_total", "counter", "CONNECT requests that ended, by result.");
  w.Sample(s.connects_ok(), {{"result", "ok"}});
  w.Sample(s.connects_refused(), {{"result", "refused"}});
  w.Sample(s.connects_timeout(), {{"result", "timeout"}});
  w.Sample(s.connects_limited(), {{"result", "limited"}});
  w.Sample(s.connects_unreachable(), {{"result", "unreachable"}});
  w.Counter("meshd_sessions_opened_total", "Sessions opened.", s.opened());
  w.Counter("meshd_sessions_closed_total", "Sessions closed.", s.closed());
  w.Counter("meshd_remote_session_opens_total", "Remote sessions this node tried to open.",
            s.remote_opens());
  w.Counter("meshd_remote_session_open_failures_total", "Remote session opens that failed.",
            s.remote_opens_failed());
  w.Family("meshd_remote_session_teardowns_total", "counter",
           "Remote sessions torn down by a mesh failure, by reason.");
  w.Sample(s.teardowns_link_down(), {{"reason", "link_down"}});
  w.Sample(s.teardowns_unreachable(), {{"reason", "unreachable"}});

  const RegionCounters& g = c.regions();
  w.Family("meshd_region_registrations_total", "counter",
           "Region registrations, by result (freed: deregistered, or with their owner).");
  w.Sample(g.registered(), {{"result", "registered"}});
  w.Sample(g.register_refused(), {{"result", "refused"}});
  w.Sample(g.deregistered(), {{"result", "deregistered"}});
  w.Sample(g.dropped_with_owner(), {{"result", "dropped_with_owner"}});
  w.Family("meshd_region_operations_total", "counter",
           "One-sided operations performed on regions of this node, by op.");
  w.Sample(g.reads(), {{"op", "read"}});
  w.Sample(g.writes(), {{"op", "write"}});
  w.Family("meshd_region_bytes_total", "counter", "Bytes moved by region operations, by op.");
  w.Sample(g.bytes_read(), {{"op", "read"}});
  w.Sample(g.bytes_written(), {{"op", "write"}});

  const LoopCounters& l = c.loop();
  w.Family("meshd_loop_polls_total", "counter",
           "Busy polling: events found while polling (hit: a wake-up saved), and windows that "
           "ran out (miss).");
  w.Sample(l.poll_hits(), {{"result", "hit"}});
  w.Sample(l.poll_misses(), {{"result", "miss"}});
  w.Family("meshd_loop_poll_idle_seconds_total", "counter",
           "Time spent busy polling with nothing to do (polling's CPU cost).");
  w.SampleDouble(static_cast<double>(l.poll_idle_us()) / 1e6);
  w.Family("meshd_loop_poll_window_seconds", "gauge",
           "The busy polling window learned so far (0: not polling now).");
  w.SampleDouble(static_cast<double>(l.poll_window_us()) / 1e6);

  const MeshCounters& k = c.mesh();
  w.Family("meshd_mesh_connections_total", "counter",
           "Mesh connections accepted by the listener, by result.");
  w.Sample(k.connections_accepted(), {{"result", "accepted"}});
  w.Sample(k.connections_refused(), {{"result", "refused"}});
  w.Counter("meshd_mesh_dials_total", "Outgoing mesh connection attempts.", k.dials());
  w.Counter("meshd_mesh_dial_failures_total", "Outgoing attempts that failed to connect.",
            k.dial_failures());
  w.Family("meshd_mesh_handshakes_total", "counter",
           "Mesh handshakes, by result (ok, or why they failed).");
  w.Sample(k.handshakes_ok(), {{"result", "ok"}});
  for (const auto& [reason, value] : BoundReasons(k.handshakes_failed(), "ok")) {
    w.Sample(value, {{"result", reason}});
  }
  w.Counter("meshd_mesh_links_established_total", "Links that became established.", k.links_up());
  w.Counter("meshd_mesh_links_lost_total", "Established links that went down.", k.links_down());
  w.ReasonCounter("meshd_mesh_connections_closed_total", "reason",
                  "Mesh connections closed, established or not, by reason.", k.links_closed());
  w.ReasonCounter("meshd_mesh_protocol_errors_total", "error",
                  "Links closed for breaking the mesh protocol, by error.", k.protocol_errors());
  w.Family("meshd_mesh_link_bytes_total", "counter",
           "Bytes read from and written to mesh link sockets, every link and frame type.");
  w.Sample(k.link_bytes_in(), {{"direction", "in"}});
  w.Sample(k.link_bytes_out(), {{"direction", "out"}});
  w.Family("meshd_mesh_data_frames_total", "counter", "Mesh DATA frames, by direction.");
  w.Sample(k.data_frames_in(), {{"direction", "in"}});
  w.Sample(k.data_frames_out(), {{"direction", "out"}});
  w.Family("meshd_mesh_data_bytes_total", "counter", "Mesh DATA payload bytes, by direction.");
  w.Sample(k.data_bytes_in(), {{"direction", "in"}});
  w.Sample(k.data_bytes_out(), {{"direction", "out"}});
  w.Counter("meshd_mesh_dropped_frames_total", "Frames discarded when their link closed.",
            k.frames_dropped());
  w.Counter("meshd_mesh_dropped_bytes_total", "Bytes discarded when their link closed.",
            k.bytes_dropped());
  w.Family("meshd_mesh_heartbeats_total", "counter", "Heartbeats, by direction.");
  w.Sample(k.heartbeats_in(), {{"direction", "in"}});
  w.Sample(k.heartbeats_out(), {{"direction", "out"}});
  w.Counter("meshd_mesh_lsas_received_total", "Link-state adverts received.", k.lsas_in());
  w.Counter("meshd_mesh_lsas_installed_total", "Link-state adverts that were new and installed.",
            k.lsas_installed());
  w.Counter("meshd_mesh_lsas_originated_total", "Link-state adverts this node sent about itself.",
            k.lsas_originated());
  w.Counter("meshd_mesh_spf_runs_total", "Shortest-path computations.", k.spf_runs());
  w.Counter("meshd_mesh_probes_received_total", "Ping/trace probes received.", k.probes_in());
  w.Counter("meshd_mesh_probes_forwarded_total", "Ping/trace probes forwarded.",
            k.probes_forwarded());
  w.Counter("meshd_mesh_probe_requests_total", "Ping and trace requests made on this node.",
            k.probe_requests());
  w.Counter("meshd_mesh_probe_timeouts_total", "Ping and trace requests that timed out.",
            k.probe_timeouts());
}

}  // namespace

MetricsSnapshot TakeMetricsSnapshot(LoopExecutor* executor, AdminBackend* backend,
                                    absl::Time deadline) {
  absl::StatusOr<MetricsSnapshot> r =
      executor->Call<MetricsSnapshot>(deadline, [backend]() -> absl::StatusOr<MetricsSnapshot> {
        MetricsSnapshot s;
        s.up = true;
        if (auto v = backend->GetStatus(); v.ok()) {
          s.status = *std::move(v);
          s.has_status = true;
        }
        if (auto v = backend->GetCounters(); v.ok()) {
          s.counters = *std::move(v);
          s.has_counters = true;
        }
        if (auto v = backend->GetSfBufStats(); v.ok()) {
          s.sfbuf = *std::move(v);
          s.has_sfbuf = true;
        }
        if (auto v = backend->ListLinks(); v.ok()) {
          s.links = *std::move(v);
          s.has_links = true;
        }
        return s;
      });
  if (!r.ok()) return MetricsSnapshot();
  return *std::move(r);
}

std::string RenderMetrics(const MetricsSnapshot& snap) {
  Writer w;
  w.Gauge("meshd_up",
          "1 if meshd's event loop answered this scrape in time (else 0, and nothing else is "
          "shown).",
          snap.up ? 1 : 0);
  if (!snap.up) return w.Take();
  if (snap.has_status) RenderStatus(snap.status, w);
  if (snap.has_links) RenderLinks(snap.links, w);
  if (snap.has_sfbuf) RenderSfBuf(snap.sfbuf, w);
  if (snap.has_counters) RenderCounters(snap.counters, w);
  return w.Take();
}

}  // namespace admin
}  // namespace meshd
