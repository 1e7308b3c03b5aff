#include "tools/syslinkctl/format.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace syslinkctl {

using meshd::admin::DrainResponse;
using meshd::admin::GetCountersResponse;
using meshd::admin::GetSfBufStatsResponse;
using meshd::admin::GetStatusResponse;
using meshd::admin::Link;
using meshd::admin::ListLinksResponse;
using meshd::admin::ListNodesResponse;
using meshd::admin::ListRegionsResponse;
using meshd::admin::ListRoutesResponse;
using meshd::admin::ListServicesResponse;
using meshd::admin::ListSessionsResponse;
using meshd::admin::Node;
using meshd::admin::PingReply;
using meshd::admin::ProbeResult;
using meshd::admin::Session;
using meshd::admin::TraceResponse;

Table::Table(std::vector<std::string> headers) {
  for (std::string& h : headers) {
    const bool numeric = !h.empty() && h[0] == '#';
    numeric_.push_back(numeric);
    headers_.push_back(numeric ? h.substr(1) : std::move(h));
  }
}

void Table::AddRow(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); c++) width[c] = headers_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); c++) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); c++) {
      if (c > 0) l += "  ";
      const size_t pad = width[c] - cells[c].size();
      if (numeric_[c]) {
        l += std::string(pad, ' ') + cells[c];
      } else {
        l += cells[c] + std::string(pad, ' ');
      }
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  // Only fails for messages with Any fields of unknown types; ours have none.
  (void)google::protobuf::util::MessageToJsonString(message, &out, o);
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof kUnits / sizeof kUnits[0]) {
    v /= 1024.0;
    u++;
  }
  return absl::StrFormat("%.1f%s", v, kUnits[u]);
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-" + HumanDuration(-d);
  if (d < absl::Microseconds(1)) return absl::StrCat(absl::ToInt64Nanoseconds(d), "ns");
  if (d < absl::Milliseconds(1)) return absl::StrCat(absl::ToInt64Microseconds(d), "us");
  if (d < absl::Seconds(1)) return absl::StrFormat("%.2fms", absl::ToDoubleMilliseconds(d));
  if (d < absl::Minutes(1)) return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(d));
  int64_t s = absl::ToInt64Seconds(d);
  const int64_t days = s / 86400;
  s %= 86400;
  // A day or more: days and hours are precision enough.
  if (days > 0) return absl::StrCat(days, "d", s / 3600, "h");
  std::string out;
  if (s / 3600 > 0) absl::StrAppend(&out, s / 3600, "h");
  absl::StrAppend(&out, (s % 3600) / 60, "m", s % 60, "s");
  return out;
}

std::string FormatMicros(uint64_t us) {
  return HumanDuration(absl::Microseconds(static_cast<int64_t>(us)));
}

std::string FormatHex(uint64_t v) { return absl::StrFormat("0x%x", v); }

std::string FormatAge(int64_t unix_ms, absl::Time now) {
  if (unix_ms <= 0) return "-";
  absl::Duration age = now - absl::FromUnixMillis(unix_ms);
  if (age < absl::ZeroDuration()) age = absl::ZeroDuration();
  return HumanDuration(absl::Milliseconds(absl::ToInt64Milliseconds(age)));
}

namespace {

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Plural(uint64_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// "key: value" lines with the values aligned.
class KeyValues {
 public:
  void Add(std::string key, std::string value) { kv_.emplace_back(std::move(key), std::move(value)); }
  std::string Render() const {
    size_t w = 0;
    for (const auto& [k, v] : kv_) w = std::max(w, k.size());
    std::string out;
    for (const auto& [k, v] : kv_) {
      out += k + ":" + std::string(w - k.size() + 2, ' ') + v + "\n";
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

}  // namespace

std::string NodeStateName(Node::State s) {
  switch (s) {
    case Node::SELF:
      return "self";
    case Node::REACHABLE:
      return "reachable";
    case Node::UNREACHABLE:
      return "unreachable";
    default:
      return "unknown";
  }
}

std::string LinkStateName(Link::State s) {
  switch (s) {
    case Link::CONNECTING:
      return "connecting";
    case Link::HANDSHAKE:
      return "handshake";
    case Link::ESTABLISHED:
      return "established";
    case Link::CLOSING:
      return "closing";
    default:
      return "unknown";
  }
}

std::string SessionKindName(Session::Kind k) {
  switch (k) {
    case Session::LOCAL:
      return "local";
    case Session::CLIENT_EDGE:
      return "client-edge";
    case Session::SERVICE_EDGE:
      return "service-edge";
    case Session::TRANSIT:
      return "transit";
    default:
      return "unknown";
  }
}

std::string ProbeResultName(ProbeResult r) {
  switch (r) {
    case meshd::admin::PROBE_OK:
      return "ok";
    case meshd::admin::PROBE_UNREACHABLE:
      return "unreachable";
    case meshd::admin::PROBE_TIMEOUT:
      return "timeout";
    case meshd::admin::PROBE_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

std::string RenderStatus(const GetStatusResponse& r) {
  const auto& h = r.health();
  const auto& c = r.config();
  KeyValues kv;
  kv.Add("node", absl::StrCat(r.node_name(), " (id ", FormatHex(r.node_id()), ")"));
  kv.Add("version", OrDash(r.version()));
  kv.Add("pid", absl::StrCat(r.pid()));
  kv.Add("uptime", HumanDuration(absl::Milliseconds(static_cast<int64_t>(r.uptime_ms()))));
  kv.Add("state", r.draining() ? "draining (new sessions refused)" : "running");
  kv.Add("clients", absl::StrCat(h.clients()));
  kv.Add("services", absl::StrCat(h.services()));
  kv.Add("sessions", absl::StrCat(h.sessions_local(), " local, ", h.sessions_remote(), " remote, ",
                                  h.sessions_transit(), " transit"));
  kv.Add("nodes", absl::StrCat(h.nodes_reachable(), " of ", h.nodes_known(), " reachable"));
  kv.Add("peers", absl::StrCat(h.peers_up(), " of ", h.peers_configured(), " up"));
  kv.Add("links", absl::StrCat(h.links_established(), " established"));
  kv.Add("regions", absl::StrCat(h.regions(), " (", FormatBytes(h.region_bytes()), ")"));
  kv.Add("config", c.config_file().empty() ? "(built-in defaults)" : c.config_file());
  kv.Add("client socket", OrDash(c.client_socket_path()));
  kv.Add("admin socket", OrDash(c.admin_socket_path()));
  if (!c.admin_tcp_address().empty()) kv.Add("admin tcp", c.admin_tcp_address());
  kv.Add("mesh listen", c.mesh_listen_address().empty() ? "(none)" : c.mesh_listen_address());
  kv.Add("peer addresses", c.peers().empty() ? "(none)" : absl::StrJoin(c.peers(), " "));
  kv.Add("metrics", c.metrics_address().empty() ? "(off)" : c.metrics_address());
  kv.Add("log level", OrDash(c.log_level()));
  kv.Add("busy polling",
         c.busy_poll_us() == 0 ? "off" : absl::StrCat("adaptive, up to ", c.busy_poll_us(), " µs"));
  if (!c.cluster_key_id().empty()) {
    kv.Add("cluster key",
           c.accepted_key_ids().empty()
               ? c.cluster_key_id()
               : absl::StrCat(c.cluster_key_id(), ", also accepting ",
                              absl::StrJoin(c.accepted_key_ids(), " ")));
  }
  return kv.Render();
}

std::string RenderNodes(const ListNodesResponse& r) {
  Table t({"NAME", "ID", "STATE", "NEXT HOP", "#LINK", "#COST", "#HOPS", "#LSA SEQ", "LSA AGE"});
  for (const Node& n : r.nodes()) {
    const bool routed = n.state() == Node::REACHABLE;
    t.AddRow({n.name(), FormatHex(n.id()), NodeStateName(n.state()),
              routed ? OrDash(n.next_hop_name()) : "-",
              routed ? absl::StrCat(n.next_hop_link()) : "-",
              routed ? absl::StrCat(n.cost()) : "-", routed ? absl::StrCat(n.hops()) : "-",
              absl::StrCat(n.lsa_seq()),
              n.state() == Node::SELF
                  ? "-"
                  : HumanDuration(absl::Milliseconds(static_cast<int64_t>(n.lsa_age_ms())))});
  }
  return t.Render();
}

std::string RenderLinks(const ListLinksResponse& r, absl::Time now) {
  std::string out;
  Table t({"ID", "PEER", "REMOTE", "STATE", "DIR", "#RTT", "#BYTES IN", "#BYTES OUT", "#MSGS IN",
           "#MSGS OUT", "#QUEUED", "#ERRORS", "UP"});
  for (const Link& l : r.links()) {
    std::string state = LinkStateName(l.state());
    if (l.congested()) state += ",congested";
    if (l.read_paused()) state += ",paused";
    if (l.peer_key_accepted()) state += ",accepted-key";
    t.AddRow({absl::StrCat(l.id()), OrDash(l.peer_name()), OrDash(l.remote_address()), state,
              l.dialed() ? "out" : "in", l.rtt_us() == 0 ? "-" : FormatMicros(l.rtt_us()),
              FormatBytes(l.bytes_in()), FormatBytes(l.bytes_out()), absl::StrCat(l.frames_in()),
              absl::StrCat(l.frames_out()), FormatBytes(l.queued_bytes()),
              absl::StrCat(l.errors()), FormatAge(l.up_since_unix_ms(), now)});
  }
  out += t.Render();
  if (r.peers_size() > 0) {
    Table p({"PEER ADDRESS", "NAME", "STATE", "#LINK", "#ATTEMPTS", "#FAILURES", "RETRY IN",
             "LAST ERROR"});
    for (const auto& peer : r.peers()) {
      p.AddRow({peer.address(), OrDash(peer.expected_name()), OrDash(peer.state()),
                peer.link() == 0 ? "-" : absl::StrCat(peer.link()), absl::StrCat(peer.attempts()),
                absl::StrCat(peer.consecutive_failures()),
                peer.backoff_ms() == 0
                    ? "-"
                    : HumanDuration(absl::Milliseconds(static_cast<int64_t>(peer.backoff_ms()))),
                OrDash(peer.last_error())});
    }
    out += "\n" + p.Render();
  }
  return out;
}

std::string RenderRoutes(const ListRoutesResponse& r) {
  Table t({"DESTINATION", "ID", "NEXT HOP", "#LINK", "#COST", "#HOPS"});
  for (const auto& rt : r.routes()) {
    t.AddRow({rt.node_name(), FormatHex(rt.node_id()), OrDash(rt.next_hop_name()),
              absl::StrCat(rt.next_hop_link()), absl::StrCat(rt.cost()), absl::StrCat(rt.hops())});
  }
  return t.Render();
}

namespace {
std::string End(const std::string& node, int32_t pid) {
  if (pid == 0) return OrDash(node);
  return absl::StrCat(OrDash(node), "/", pid);
}
}  // namespace

std::string RenderSessions(const ListSessionsResponse& r, absl::Time now) {
  Table t({"SESSID", "KIND", "SERVICE", "CLIENT", "SERVER", "#LINK", "#QUEUED", "#MSGS IN",
           "#MSGS OUT", "AGE"});
  for (const Session& s : r.sessions()) {
    const bool remote = s.kind() != Session::LOCAL;
    t.AddRow({FormatHex(s.sessid()), SessionKindName(s.kind()), s.service(),
              End(s.client_node(), s.client_pid()), End(s.service_node(), s.service_pid()),
              remote ? absl::StrCat(s.link()) : "-", remote ? FormatBytes(s.queued_bytes()) : "-",
              remote ? absl::StrCat(s.msgs_in()) : "-", remote ? absl::StrCat(s.msgs_out()) : "-",
              FormatAge(s.opened_unix_ms(), now)});
  }
  std::string out = t.Render();
  if (r.total() > static_cast<uint64_t>(r.sessions_size())) {
    absl::StrAppend(&out, "(", r.sessions_size(), " of ", r.total(),
                    " sessions shown; see --limit)\n");
  }
  return out;
}

std::string RenderServices(const ListServicesResponse& r) {
  Table t({"NAME", "#PID", "#UID", "#SESSIONS"});
  for (const auto& s : r.services()) {
    t.AddRow({s.name(), absl::StrCat(s.pid()), absl::StrCat(s.uid()), absl::StrCat(s.sessions())});
  }
  return t.Render();
}

std::string RenderRegions(const ListRegionsResponse& r, absl::Time now) {
  Table t({"#ID", "#GEN", "#PID", "#UID", "#SIZE", "PERM", "#READS", "#WRITES", "#READ", "#WRITTEN",
           "#REJECTS", "AGE"});
  for (const auto& g : r.regions()) {
    t.AddRow({absl::StrCat(g.id()), absl::StrCat(g.generation()), absl::StrCat(g.owner_pid()),
              absl::StrCat(g.owner_uid()), FormatBytes(g.bytes()),
              absl::StrCat(g.readable() ? "r" : "-", g.writable() ? "w" : "-"),
              absl::StrCat(g.reads()), absl::StrCat(g.writes()), FormatBytes(g.bytes_read()),
              FormatBytes(g.bytes_written()), absl::StrCat(g.key_rejects()),
              FormatAge(g.registered_unix_ms(), now)});
  }
  std::string out = t.Render();
  absl::StrAppend(&out, Plural(r.total(), "region", "regions"), ", ", FormatBytes(r.total_bytes()),
                  " registered");
  if (r.total() > static_cast<uint64_t>(r.regions_size())) {
    absl::StrAppend(&out, " (", r.regions_size(), " shown; see --limit)");
  }
  return out + "\n";
}

std::string RenderSfBuf(const GetSfBufStatsResponse& r) {
  KeyValues kv;
  kv.Add("in use", absl::StrCat(r.in_use(), " of ", r.max(), " page mappings"));
  kv.Add("peak", absl::StrCat(r.peak()));
  const uint64_t lookups = r.hits() + r.misses();
  kv.Add("hits", lookups == 0 ? absl::StrCat(r.hits())
                              : absl::StrFormat("%d (%.1f%%)", r.hits(),
                                                100.0 * static_cast<double>(r.hits()) /
                                                    static_cast<double>(lookups)));
  kv.Add("misses", absl::StrCat(r.misses()));
  kv.Add("waits", absl::StrCat(r.waits()));
  kv.Add("failures", absl::StrCat(r.failures()));
  return kv.Render();
}

namespace {

// Appends every integer field of M under PREFIX, recursively.
void CollectCounters(const google::protobuf::Message& m, const std::string& prefix,
                     std::vector<std::pair<std::string, uint64_t>>* out) {
  using google::protobuf::FieldDescriptor;
  const auto* d = m.GetDescriptor();
  const auto* refl = m.GetReflection();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->is_map()) {
      // map<string, uint64>: key and value are fields 1 and 2 of the entry.
      std::map<std::string, uint64_t> sorted;
      for (int j = 0; j < refl->FieldSize(m, f); j++) {
        const auto& entry = refl->GetRepeatedMessage(m, f, j);
        const auto* ed = entry.GetDescriptor();
        const auto* er = entry.GetReflection();
        sorted[er->GetString(entry, ed->field(0))] = er->GetUInt64(entry, ed->field(1));
      }
      for (const auto& [k, v] : sorted) out->emplace_back(name + "." + k, v);
    } else if (f->is_repeated()) {
      continue;
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      CollectCounters(refl->GetMessage(m, f), name, out);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
      out->emplace_back(name, refl->GetUInt64(m, f));
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
      out->emplace_back(name, refl->GetUInt32(m, f));
    }
  }
}

}  // namespace

std::string RenderCounters(const GetCountersResponse& r) {
  std::vector<std::pair<std::string, uint64_t>> all;
  CollectCounters(r, "", &all);
  Table t({"COUNTER", "#VALUE"});
  for (const auto& [k, v] : all) t.AddRow({k, absl::StrCat(v)});
  return t.Render();
}

std::string RenderTrace(const TraceResponse& r) {
  std::string out = absl::StrCat("trace to ", r.node(), ": ");
  if (r.result() == meshd::admin::PROBE_OK) {
    absl::StrAppend(&out, Plural(static_cast<uint64_t>(r.hops_size()), "hop", "hops"), "\n");
  } else {
    absl::StrAppend(&out, ProbeResultName(r.result()), r.error().empty() ? "" : ": ", r.error(),
                    "\n");
  }
  Table t({"#HOP", "NODE", "ID", "#RTT"});
  for (const auto& h : r.hops()) {
    t.AddRow({absl::StrCat(h.hop()), h.name(), FormatHex(h.node_id()), FormatMicros(h.rtt_us())});
  }
  if (t.rows() > 0) out += t.Render();
  return out;
}

std::string RenderDrain(const DrainResponse& r) {
  return absl::StrCat(r.was_draining() ? "already draining" : "draining",
                      ": new sessions and services are refused; ",
                      Plural(r.sessions(), "session", "sessions"), " and ",
                      Plural(r.services(), "service", "services"), " remain\n");
}

std::string RenderPingReply(const PingReply& r) {
  if (r.result() == meshd::admin::PROBE_OK) {
    return absl::StrCat("reply from ", r.node(), ": seq=", r.seq(), " time=",
                        FormatMicros(r.rtt_us()), "\n");
  }
  return absl::StrCat("no reply from ", r.node(), ": seq=", r.seq(), " ",
                      ProbeResultName(r.result()), r.error().empty() ? "" : ": ", r.error(), "\n");
}

std::string RenderPingSummary(const std::string& node, const std::vector<PingReply>& replies) {
  uint64_t ok = 0, min = UINT64_MAX, max = 0, sum = 0;
  for (const PingReply& r : replies) {
    if (r.result() != meshd::admin::PROBE_OK) continue;
    ok++;
    min = std::min(min, r.rtt_us());
    max = std::max(max, r.rtt_us());
    sum += r.rtt_us();
  }
  const uint64_t n = replies.size();
  std::string out = absl::StrCat("--- ", node, " ping statistics ---\n",
                                 Plural(n, "probe", "probes"), ", ",
                                 Plural(ok, "reply", "replies"), ", ",
                                 n == 0 ? 0 : (100 * (n - ok)) / n, "% lost");
  if (ok > 0) {
    absl::StrAppend(&out, ", rtt min/avg/max = ", FormatMicros(min), "/", FormatMicros(sum / ok),
                    "/", FormatMicros(max));
  }
  return out + "\n";
}

std::vector<std::string> StatusProblems(const GetStatusResponse& r) {
  std::vector<std::string> p;
  const auto& h = r.health();
  if (r.draining()) p.push_back(absl::StrCat(r.node_name(), " is draining"));
  if (h.peers_up() < h.peers_configured()) {
    p.push_back(absl::StrCat(h.peers_configured() - h.peers_up(), " of ", h.peers_configured(),
                             " configured peers down (see: syslinkctl links)"));
  }
  if (h.nodes_reachable() < h.nodes_known()) {
    p.push_back(absl::StrCat(h.nodes_known() - h.nodes_reachable(), " of ", h.nodes_known(),
                             " known nodes unreachable (see: syslinkctl nodes)"));
  }
  return p;
}

std::vector<std::string> NodeProblems(const ListNodesResponse& r) {
  std::vector<std::string> p;
  for (const Node& n : r.nodes()) {
    if (n.state() == Node::UNREACHABLE) p.push_back(absl::StrCat("node ", n.name(), " is unreachable"));
  }
  return p;
}

std::vector<std::string> LinkProblems(const ListLinksResponse& r) {
  std::vector<std::string> p;
  for (const auto& peer : r.peers()) {
    if (peer.state() != "up") {
      std::string s = absl::StrCat("peer ", peer.address());
      if (!peer.expected_name().empty()) absl::StrAppend(&s, " (", peer.expected_name(), ")");
      absl::StrAppend(&s, " is ", OrDash(peer.state()));
      if (!peer.last_error().empty()) absl::StrAppend(&s, ": ", peer.last_error());
      p.push_back(s);
    }
  }
  return p;
}

}  // namespace syslinkctl
