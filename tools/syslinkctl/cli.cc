#include "tools/syslinkctl/cli.h"

#include <signal.h>
#include <time.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/syslinkctl/format.h"

namespace syslinkctl {

using meshd::admin::Admin;
using meshd::admin::GetCountersResponse;
using meshd::admin::GetSfBufStatsResponse;
using meshd::admin::GetStatusResponse;
using meshd::admin::ListLinksResponse;
using meshd::admin::ListNodesResponse;
using meshd::admin::ListRegionsRequest;
using meshd::admin::ListRegionsResponse;
using meshd::admin::ListRoutesResponse;
using meshd::admin::ListServicesResponse;
using meshd::admin::ListSessionsRequest;
using meshd::admin::ListSessionsResponse;

namespace {

const std::set<std::string>& Objects() {
  static const auto* const kObjects = new std::set<std::string>{
      "status", "nodes", "links", "routes", "sessions", "services", "regions", "sfbuf", "stats"};
  return *kObjects;
}

bool IsObject(const std::string& s) { return Objects().count(s) > 0; }

// ---------------------------------------------------------------- help

constexpr char kGeneralHelp[] =
    R"(syslinkctl: inspect and operate the syslink mesh daemon (meshd) on this node

Usage:
  syslinkctl [OPTIONS] OBJECT [show]
  syslinkctl [OPTIONS] ping NODE [-c COUNT] [-i INTERVAL]
  syslinkctl [OPTIONS] trace NODE
  syslinkctl [OPTIONS] drain
  syslinkctl [OPTIONS] watch [-n INTERVAL] [-c COUNT] OBJECT
  syslinkctl help [OBJECT|COMMAND]

Objects:
  status     this node: identity, uptime, health summary, configuration
  nodes      every node of the mesh and whether it is reachable
  links      links to other nodes, and the configured peers
  routes     the path to every reachable node
  sessions   sessions on this node (local, remote ends, transit)
  services   services published on this node
  regions    registered memory regions
  sfbuf      meshd's page-mapping cache (sf_buf) statistics
  stats      every counter meshd keeps

Commands:
  ping NODE  round trips to NODE through the mesh
  trace NODE the path to NODE, hop by hop
  drain      refuse new sessions and services from now on (meshd keeps running)
  watch      redraw an object's table every few seconds, until Ctrl-C

Options (anywhere on the line):
  -j, --json              JSON made from the API's protobuf messages (stable,
                          for scripts); without it, tables (for people, may change)
  -E, --endpoint ADDR     meshd's admin API: unix:/PATH (or /PATH), or HOST:PORT
                          over TLS; default $SYSLINK_ADMIN, else
                          unix:/run/meshd/admin.sock
  -t, --timeout DURATION  how long to wait for meshd (and for each ping or trace
                          probe); 5s, 500ms, 1m or plain seconds; default 5s
      --cacert FILE       TLS: the CA bundle meshd's certificate must chain to
      --cert FILE         TLS: client certificate (with --key)
      --key FILE          TLS: client private key
  -h, --help              help (for a command: syslinkctl COMMAND --help)

Exit codes:
  0  ok
  1  a problem was found: status shows a draining node, a configured peer
     down or a node unreachable; nodes shows an unreachable node; links shows a
     configured peer not up; a ping probe was lost; a trace did not arrive;
     meshd answered with an error
  2  usage error
  3  meshd unreachable (not running, no permission on the socket, or no
     answer within --timeout)
)";

const std::map<std::string, std::string>& CommandHelp() {
  static const auto* const kHelp = new std::map<std::string, std::string>{
      {"status", R"(Usage: syslinkctl [OPTIONS] status
This node: name and id, version, uptime, draining or not, clients, services,
sessions, nodes reachable, peers up, links, regions, and the main settings.
Exit code 1 if the node is draining, a configured peer has no established
link, or a known node is unreachable (each problem is printed on stderr).
)"},
      {"nodes", R"(Usage: syslinkctl [OPTIONS] nodes
Every node in this node's link-state database, this one included: id, state
(self, reachable, unreachable), next hop, path cost and hops, the sequence
number and age of its latest advert. Exit code 1 if any node is unreachable.
)"},
      {"links", R"(Usage: syslinkctl [OPTIONS] links
Links to other nodes: peer, remote address, state, direction (out: this node
dialed), last heartbeat round trip, bytes and messages (frames) each way,
bytes queued, errors, time up. Then the configured peers: state, attempts,
failures, time to the next attempt, last error. Exit code 1 if a configured
peer is not up.
)"},
      {"routes", R"(Usage: syslinkctl [OPTIONS] routes
The shortest path to every reachable node other than this one: next hop, the
link it goes out on, cost and hops.
)"},
      {"sessions", R"(Usage: syslinkctl [OPTIONS] sessions [--service NAME] [--limit N]
Sessions this node takes part in: local ones (client and service here; they
talk directly), client and service edges of remote ones, and transit ones it
forwards. CLIENT and SERVER show node/pid.
  --service NAME  only sessions of service NAME
  --limit N       at most N sessions (meshd caps it at 10000)
)"},
      {"services", R"(Usage: syslinkctl [OPTIONS] services
Services published on this node: name, pid, uid, open sessions.
)"},
      {"regions", R"(Usage: syslinkctl [OPTIONS] regions [--limit N]
Memory regions registered with this node: id and generation (the key itself is
never shown), owner, size, permissions for peers, remote operations and bytes,
refused accesses.
  --limit N  at most N regions (meshd caps it at 10000)
)"},
      {"sfbuf", R"(Usage: syslinkctl [OPTIONS] sfbuf
meshd's own sf_buf page-mapping cache: mappings in use, peak and pool size,
hits, misses, allocations that waited and that failed.
)"},
      {"stats", R"(Usage: syslinkctl [OPTIONS] stats
Every counter meshd keeps since it started, one per line by dotted name
(messages.to_mesh, rejects.malformed, mesh.handshakes_failed.wrong_key...).
The same values are exported to Prometheus (docs/operations.md).
)"},
      {"ping", R"(Usage: syslinkctl [OPTIONS] ping NODE [-c COUNT] [-i INTERVAL]
Measures the round trip to NODE (a node name) through the mesh, like ping(8).
  -c, --count COUNT        probes, 1..10000 (default 3)
  -i, --interval INTERVAL  pause between probes, 1ms..60s (default 1s)
Each probe waits up to --timeout. With -j, one JSON object per probe per line.
Exit code 1 unless every probe got a reply.
)"},
      {"trace", R"(Usage: syslinkctl [OPTIONS] trace NODE
The path to NODE through the mesh, one line per node after this one, with the
round trip to each. Waits up to --timeout. Exit code 1 if NODE was not reached.
)"},
      {"drain", R"(Usage: syslinkctl [OPTIONS] drain
Puts meshd in drain mode: new sessions and services are refused (CONNECT and
LISTEN fail with EAGAIN) while open sessions go on; meshd keeps running. Use it
before stopping a node. It cannot be undone short of restarting meshd.
)"},
      {"watch", R"(Usage: syslinkctl [OPTIONS] watch [-n INTERVAL] [-c COUNT] OBJECT [OBJECT OPTIONS]
Clears the terminal and redraws OBJECT's table every INTERVAL until Ctrl-C.
If meshd cannot be reached, the error is shown and watch keeps trying.
  -n, --interval INTERVAL  between refreshes, 100ms..1h (default 2s)
  -c, --count COUNT        stop after COUNT refreshes (default: never)
Not with -j. Exit code 0 when interrupted.
)"},
      {"help", R"(Usage: syslinkctl help [OBJECT|COMMAND]
)"},
  };
  return *kHelp;
}

// ---------------------------------------------------------------- parsing

struct OptionSpec {
  const char* long_name;
  char short_name;  // 0: none
  bool takes_value;
};

constexpr OptionSpec kOptions[] = {
    {"json", 'j', false},    {"endpoint", 'E', true}, {"timeout", 't', true},
    {"cacert", 0, true},     {"cert", 0, true},       {"key", 0, true},
    {"help", 'h', false},    {"count", 'c', true},    {"interval", 'i', true},
    {"service", 0, true},    {"limit", 0, true},
    {"interval", 'n', true},  // watch's spelling, as in watch(1)
};

// Options each command accepts besides the global ones.
std::set<std::string> CommandOptions(const std::string& command) {
  if (command == "ping") return {"count", "interval"};
  if (command == "watch") return {"count", "interval"};
  if (command == "sessions") return {"service", "limit"};
  if (command == "regions") return {"limit"};
  return {};
}

absl::Status Usage(const std::string& message) { return absl::InvalidArgumentError(message); }

// "5s", "500ms", "1m", "1.5s", or plain seconds ("5", "0.5").
bool ParseDurationArg(const std::string& s, absl::Duration* d) {
  double secs;
  if (absl::SimpleAtod(s, &secs) && s.find_first_not_of("0123456789.") == std::string::npos) {
    *d = absl::Seconds(secs);
    return true;
  }
  return absl::ParseDuration(s, d) && s.find_first_of("0123456789") != std::string::npos;
}

bool ParseUint(const std::string& s, uint32_t min, uint32_t max, uint32_t* v) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 10) {
    return false;
  }
  uint64_t n;
  if (!absl::SimpleAtoi(s, &n) || n < min || n > max) return false;
  *v = static_cast<uint32_t>(n);
  return true;
}

bool ValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string HelpText(const std::string& topic) {
  auto it = CommandHelp().find(topic);
  if (it != CommandHelp().end()) return it->second;
  return kGeneralHelp;
}

absl::StatusOr<Invocation> Parse(const std::vector<std::string>& args, const char* env_endpoint) {
  Invocation inv;
  std::vector<std::string> positional;
  std::map<std::string, std::string> given;  // long name -> value ("" for flags)
  char short_interval = 0;  // 'i' or 'n' if --interval was given so
  bool help = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "--") {
      positional.insert(positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional.push_back(a);
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::string value;
    bool has_inline_value = false;
    if (a[1] == '-') {
      std::string name = a.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline_value = true;
      }
      for (const OptionSpec& o : kOptions) {
        if (name == o.long_name) spec = &o;
      }
    } else if (a.size() == 2) {
      for (const OptionSpec& o : kOptions) {
        if (o.short_name != 0 && a[1] == o.short_name) spec = &o;
      }
    }
    if (spec == nullptr) return Usage(absl::StrCat("unknown option ", a));
    if (spec->takes_value) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) return Usage(absl::StrCat("option ", a, " needs a value"));
        value = args[++i];
      }
    } else if (has_inline_value) {
      return Usage(absl::StrCat("option --", spec->long_name, " takes no value"));
    }
    if (std::string(spec->long_name) == "help") {
      help = true;
      continue;
    }
    if (given.count(spec->long_name)) return Usage(absl::StrCat("option ", a, " given twice"));
    given[spec->long_name] = value;
    if (a == "-i" || a == "-n") short_interval = a[1];
  }

  // The command.
  if (help) {
    inv.command = "help";
    if (!positional.empty()) {
      inv.help_topic = positional[0] == "help" && positional.size() > 1 ? positional[1] : positional[0];
    }
    return inv;
  }
  if (positional.empty()) return Usage("missing OBJECT or COMMAND");
  inv.command = positional[0];
  std::vector<std::string> rest(positional.begin() + 1, positional.end());
  if (inv.command == "help") {
    if (rest.size() > 1) return Usage("help takes at most one topic");
    if (!rest.empty()) {
      if (!CommandHelp().count(rest[0])) return Usage(absl::StrCat("no help for \"", rest[0], "\""));
      inv.help_topic = rest[0];
    }
    return inv;
  }
  const bool object = IsObject(inv.command);
  if (object) {
    if (!rest.empty() && (rest[0] == "show" || rest[0] == "list")) rest.erase(rest.begin());
    if (!rest.empty()) {
      return Usage(absl::StrCat("unexpected \"", rest[0], "\" after ", inv.command));
    }
  } else if (inv.command == "ping" || inv.command == "trace") {
    if (rest.empty()) return Usage(absl::StrCat(inv.command, " needs a NODE"));
    if (rest.size() > 1) return Usage(absl::StrCat("unexpected \"", rest[1], "\" after ", rest[0]));
    if (!ValidNodeName(rest[0])) {
      return Usage(absl::StrCat("\"", rest[0],
                                "\" is not a node name (1-63 characters of A-Z a-z 0-9 . _ -)"));
    }
    inv.node = rest[0];
  } else if (inv.command == "drain") {
    if (!rest.empty()) return Usage(absl::StrCat("unexpected \"", rest[0], "\" after drain"));
  } else if (inv.command == "watch") {
    if (rest.empty()) return Usage("watch needs an OBJECT");
    if (!IsObject(rest[0])) return Usage(absl::StrCat("cannot watch \"", rest[0], "\": not an object"));
    inv.object = rest[0];
    rest.erase(rest.begin());
    if (!rest.empty() && (rest[0] == "show" || rest[0] == "list")) rest.erase(rest.begin());
    if (!rest.empty()) return Usage(absl::StrCat("unexpected \"", rest[0], "\" after ", inv.object));
  } else {
    return Usage(absl::StrCat("unknown object or command \"", inv.command, "\""));
  }

  // Options.
  std::set<std::string> allowed = {"json", "endpoint", "timeout", "cacert", "cert", "key"};
  for (const std::string& o : CommandOptions(inv.command)) allowed.insert(o);
  if (inv.command == "watch") {
    for (const std::string& o : CommandOptions(inv.object)) allowed.insert(o);
  }
  for (const auto& [name, value] : given) {
    if (!allowed.count(name)) {
      return Usage(absl::StrCat("option --", name, " does not apply to ", inv.command));
    }
  }
  if (short_interval == 'n' && inv.command != "watch") {
    return Usage(absl::StrCat("option -n does not apply to ", inv.command, " (ping: -i)"));
  }
  if (short_interval == 'i' && inv.command == "watch") {
    return Usage("option -i does not apply to watch (-n)");
  }
  auto get = [&](const char* name, std::string* v) {
    auto it = given.find(name);
    if (it == given.end()) return false;
    *v = it->second;
    return true;
  };
  std::string v;
  inv.json = given.count("json") > 0;
  if (inv.json && inv.command == "watch") return Usage("watch draws tables; it does not take -j");
  if (get("endpoint", &v)) {
    inv.endpoint = v;
  } else if (env_endpoint != nullptr && env_endpoint[0] != '\0') {
    inv.endpoint = env_endpoint;
  } else {
    inv.endpoint = kDefaultEndpoint;
  }
  if (inv.endpoint.empty()) return Usage("--endpoint is empty");
  if (inv.endpoint[0] == '/') inv.endpoint = "unix:" + inv.endpoint;
  if (get("timeout", &v)) {
    if (!ParseDurationArg(v, &inv.timeout) || inv.timeout <= absl::ZeroDuration() ||
        inv.timeout > absl::Hours(1)) {
      return Usage(absl::StrCat("--timeout \"", v, "\": a duration from 1ms to 1h, e.g. 5s or 500ms"));
    }
  }
  get("cacert", &inv.cacert);
  get("cert", &inv.cert);
  get("key", &inv.key);
  if (inv.cert.empty() != inv.key.empty()) return Usage("--cert and --key go together");
  const bool unix_endpoint = absl::StartsWith(inv.endpoint, "unix:");
  if (unix_endpoint && (!inv.cacert.empty() || !inv.cert.empty())) {
    return Usage("--cacert, --cert and --key are for TCP (TLS) endpoints, not unix: ones");
  }
  if (inv.command == "ping") {
    inv.count = 3;
    inv.interval = absl::Seconds(1);
    if (get("count", &v) && !ParseUint(v, 1, 10000, &inv.count)) {
      return Usage(absl::StrCat("--count \"", v, "\": a number from 1 to 10000"));
    }
    if (get("interval", &v) && (!ParseDurationArg(v, &inv.interval) ||
                                inv.interval < absl::Milliseconds(1) ||
                                inv.interval > absl::Seconds(60))) {
      return Usage(absl::StrCat("--interval \"", v, "\": a duration from 1ms to 60s"));
    }
    if (inv.timeout > absl::Seconds(60)) return Usage("ping: --timeout is at most 60s per probe");
  }
  if (inv.command == "trace" && inv.timeout > absl::Seconds(60)) {
    return Usage("trace: --timeout is at most 60s");
  }
  if (inv.command == "watch") {
    inv.interval = absl::Seconds(2);
    if (get("count", &v) && !ParseUint(v, 1, 1000000000, &inv.count)) {
      return Usage(absl::StrCat("--count \"", v, "\": a number from 1"));
    }
    if (get("interval", &v) &&
        (!ParseDurationArg(v, &inv.interval) || inv.interval < absl::Milliseconds(100) ||
         inv.interval > absl::Hours(1))) {
      return Usage(absl::StrCat("--interval \"", v, "\": a duration from 100ms to 1h"));
    }
  }
  get("service", &inv.service);
  if (get("limit", &v) && !ParseUint(v, 1, 1000000, &inv.limit)) {
    return Usage(absl::StrCat("--limit \"", v, "\": a number from 1"));
  }
  return inv;
}

// ---------------------------------------------------------------- running

namespace {

// What one object query produced.
struct View {
  grpc::Status status;
  std::string human;
  std::string json;
  std::vector<std::string> problems;
};

void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

template <typename Resp, typename Call, typename Human, typename Problems>
View Unary(const Invocation& inv, Call call, Human human, Problems problems) {
  View v;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, inv.timeout);
  Resp r;
  v.status = call(&ctx, &r);
  if (!v.status.ok()) return v;
  v.json = ToJson(r, /*pretty=*/true);
  v.human = human(r);
  v.problems = problems(r);
  return v;
}

std::vector<std::string> None(const google::protobuf::Message&) { return {}; }

View Fetch(const Invocation& inv, const std::string& object, Admin::StubInterface* stub) {
  const absl::Time now = absl::Now();
  if (object == "status") {
    return Unary<GetStatusResponse>(
        inv, [&](grpc::ClientContext* c, GetStatusResponse* r) { return stub->GetStatus(c, {}, r); },
        [](const GetStatusResponse& r) { return RenderStatus(r); },
        [](const GetStatusResponse& r) { return StatusProblems(r); });
  }
  if (object == "nodes") {
    return Unary<ListNodesResponse>(
        inv, [&](grpc::ClientContext* c, ListNodesResponse* r) { return stub->ListNodes(c, {}, r); },
        [](const ListNodesResponse& r) { return RenderNodes(r); },
        [](const ListNodesResponse& r) { return NodeProblems(r); });
  }
  if (object == "links") {
    return Unary<ListLinksResponse>(
        inv, [&](grpc::ClientContext* c, ListLinksResponse* r) { return stub->ListLinks(c, {}, r); },
        [now](const ListLinksResponse& r) { return RenderLinks(r, now); },
        [](const ListLinksResponse& r) { return LinkProblems(r); });
  }
  if (object == "routes") {
    return Unary<ListRoutesResponse>(
        inv, [&](grpc::ClientContext* c, ListRoutesResponse* r) { return stub->ListRoutes(c, {}, r); },
        [](const ListRoutesResponse& r) { return RenderRoutes(r); }, None);
  }
  if (object == "sessions") {
    ListSessionsRequest req;
    req.set_service(inv.service);
    req.set_limit(inv.limit);
    return Unary<ListSessionsResponse>(
        inv,
        [&](grpc::ClientContext* c, ListSessionsResponse* r) { return stub->ListSessions(c, req, r); },
        [now](const ListSessionsResponse& r) { return RenderSessions(r, now); }, None);
  }
  if (object == "services") {
    return Unary<ListServicesResponse>(
        inv,
        [&](grpc::ClientContext* c, ListServicesResponse* r) { return stub->ListServices(c, {}, r); },
        [](const ListServicesResponse& r) { return RenderServices(r); }, None);
  }
  if (object == "regions") {
    ListRegionsRequest req;
    req.set_limit(inv.limit);
    return Unary<ListRegionsResponse>(
        inv,
        [&](grpc::ClientContext* c, ListRegionsResponse* r) { return stub->ListRegions(c, req, r); },
        [now](const ListRegionsResponse& r) { return RenderRegions(r, now); }, None);
  }
  if (object == "sfbuf") {
    return Unary<GetSfBufStatsResponse>(
        inv,
        [&](grpc::ClientContext* c, GetSfBufStatsResponse* r) { return stub->GetSfBufStats(c, {}, r); },
        [](const GetSfBufStatsResponse& r) { return RenderSfBuf(r); }, None);
  }
  // "stats" (Parse admits nothing else).
  return Unary<GetCountersResponse>(
      inv,
      [&](grpc::ClientContext* c, GetCountersResponse* r) { return stub->GetCounters(c, {}, r); },
      [](const GetCountersResponse& r) { return RenderCounters(r); }, None);
}

const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OK";
  }
}

// The exit code for a failed rpc; MESSAGE says why, in one line.
int RpcFailure(const Invocation& inv, const grpc::Status& s, std::string* message) {
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      *message = absl::StrCat("cannot reach meshd at ", inv.endpoint, ": ", m);
      if (absl::StrContains(m, "No such file") || absl::StrContains(m, "Connection refused")) {
        *message += " (is meshd running?)";
      } else if (absl::StrContains(m, "Permission denied")) {
        *message += " (are you in meshd's group?)";
      }
      return kExitUnreachable;
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      *message = absl::StrCat("meshd at ", inv.endpoint, " did not answer within ",
                              absl::FormatDuration(inv.timeout));
      return kExitUnreachable;
    case grpc::StatusCode::INVALID_ARGUMENT:
      *message = absl::StrCat("meshd refused the request: ", m);
      return kExitUsage;
    default:
      *message = absl::StrCat("meshd: ", CodeName(s.error_code()), ": ", m);
      return kExitProblem;
  }
}

int Report(const Invocation& inv, const View& v, const Io& io) {
  if (!v.status.ok()) {
    std::string why;
    const int code = RpcFailure(inv, v.status, &why);
    *io.err << "syslinkctl: " << why << "\n";
    return code;
  }
  *io.out << (inv.json ? v.json : v.human);
  io.out->flush();
  for (const std::string& p : v.problems) *io.err << "syslinkctl: problem: " << p << "\n";
  return v.problems.empty() ? kExitOk : kExitProblem;
}

int RunPing(const Invocation& inv, Admin::StubInterface* stub, const Io& io) {
  meshd::admin::PingRequest req;
  req.set_node(inv.node);
  req.set_count(inv.count);
  req.set_interval_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(inv.interval)));
  req.set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(inv.timeout)));
  grpc::ClientContext ctx;
  // Every probe may take its timeout, plus the pauses, plus one timeout of
  // slack for meshd itself.
  SetDeadline(&ctx, (inv.timeout + inv.interval) * static_cast<int64_t>(inv.count) + inv.timeout);
  if (!inv.json) {
    *io.out << "PING " << inv.node << ": " << inv.count << (inv.count == 1 ? " probe" : " probes")
            << "\n";
    io.out->flush();
  }
  std::unique_ptr<grpc::ClientReaderInterface<meshd::admin::PingReply>> reader =
      stub->Ping(&ctx, req);
  std::vector<meshd::admin::PingReply> replies;
  meshd::admin::PingReply r;
  while (reader->Read(&r)) {
    replies.push_back(r);
    *io.out << (inv.json ? ToJson(r, /*pretty=*/false) : RenderPingReply(r));
    io.out->flush();
  }
  const grpc::Status s = reader->Finish();
  if (!inv.json && !replies.empty()) *io.out << RenderPingSummary(inv.node, replies);
  if (!s.ok()) {
    std::string why;
    const int code = RpcFailure(inv, s, &why);
    *io.err << "syslinkctl: " << why << "\n";
    return code;
  }
  bool all_ok = replies.size() == inv.count;
  for (const auto& p : replies) all_ok = all_ok && p.result() == meshd::admin::PROBE_OK;
  return all_ok ? kExitOk : kExitProblem;
}

int RunTrace(const Invocation& inv, Admin::StubInterface* stub, const Io& io) {
  meshd::admin::TraceRequest req;
  req.set_node(inv.node);
  req.set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(inv.timeout)));
  View v;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, inv.timeout * 2);
  meshd::admin::TraceResponse r;
  v.status = stub->Trace(&ctx, req, &r);
  if (v.status.ok()) {
    v.json = ToJson(r, /*pretty=*/true);
    v.human = RenderTrace(r);
    if (r.result() != meshd::admin::PROBE_OK) {
      v.problems.push_back(absl::StrCat(inv.node, " not reached: ", ProbeResultName(r.result()),
                                        r.error().empty() ? "" : ": ", r.error()));
    }
  }
  return Report(inv, v, io);
}

int RunDrain(const Invocation& inv, Admin::StubInterface* stub, const Io& io) {
  View v;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, inv.timeout);
  meshd::admin::DrainResponse r;
  v.status = stub->Drain(&ctx, meshd::admin::DrainRequest(), &r);
  if (v.status.ok()) {
    v.json = ToJson(r, /*pretty=*/true);
    v.human = RenderDrain(r);
  }
  return Report(inv, v, io);
}

int RunWatch(const Invocation& inv, Admin::StubInterface* stub, const Io& io) {
  for (uint32_t n = 1;; n++) {
    const View v = Fetch(inv, inv.object, stub);
    std::string screen = "\033[H\033[2J";
    absl::StrAppend(&screen, "Every ", absl::FormatDuration(inv.interval), ": syslinkctl ",
                    inv.object, "    ", inv.endpoint, "    ",
                    absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::LocalTimeZone()),
                    "\n\n");
    if (v.status.ok()) {
      screen += v.human;
      for (const std::string& p : v.problems) absl::StrAppend(&screen, "problem: ", p, "\n");
    } else {
      std::string why;
      RpcFailure(inv, v.status, &why);
      absl::StrAppend(&screen, "error: ", why, "\n");
    }
    *io.out << screen;
    io.out->flush();
    if (inv.count != 0 && n >= inv.count) return kExitOk;
    if (!io.wait(inv.interval)) return kExitOk;
  }
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  if (data.size() > (1 << 20)) return absl::InvalidArgumentError(absl::StrCat(path, " is over 1 MiB"));
  return data;
}

// Waits D or until SIGINT/SIGTERM (which the caller has blocked).
bool WaitForSignal(absl::Duration d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const absl::Time end = absl::Now() + d;
  for (;;) {
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    struct timespec ts = absl::ToTimespec(left);
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) return false;
    if (sig < 0 && errno == EAGAIN) return true;
    // EINTR (another signal): keep waiting.
  }
}

}  // namespace

int Run(const Invocation& inv, Admin::StubInterface* stub, const Io& io) {
  if (inv.command == "ping") return RunPing(inv, stub, io);
  if (inv.command == "trace") return RunTrace(inv, stub, io);
  if (inv.command == "drain") return RunDrain(inv, stub, io);
  if (inv.command == "watch") return RunWatch(inv, stub, io);
  return Report(inv, Fetch(inv, inv.command, stub), io);
}

absl::StatusOr<std::unique_ptr<Admin::Stub>> MakeStub(const Invocation& inv) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (absl::StartsWith(inv.endpoint, "unix:")) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!inv.cacert.empty()) {
      absl::StatusOr<std::string> ca = ReadSmallFile(inv.cacert);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!inv.cert.empty()) {
      absl::StatusOr<std::string> cert = ReadSmallFile(inv.cert);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadSmallFile(inv.key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return Admin::NewStub(grpc::CreateCustomChannel(inv.endpoint, creds, args));
}

int Main(const std::vector<std::string>& args, const char* env_endpoint, std::ostream& out,
         std::ostream& err, std::function<bool(absl::Duration)> wait) {
  absl::StatusOr<Invocation> inv = Parse(args, env_endpoint);
  if (!inv.ok()) {
    err << "syslinkctl: " << inv.status().message() << "\n"
        << "Try 'syslinkctl --help'.\n";
    return kExitUsage;
  }
  if (inv->command == "help") {
    out << HelpText(inv->help_topic);
    return kExitOk;
  }
  if (inv->command == "watch" && !wait) {
    // Before gRPC starts threads, so that they inherit the mask and the
    // signals wait for sigtimedwait.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    wait = WaitForSignal;
  }
  absl::StatusOr<std::unique_ptr<Admin::Stub>> stub = MakeStub(*inv);
  if (!stub.ok()) {
    err << "syslinkctl: " << stub.status().message() << "\n";
    return kExitUsage;
  }
  Io io{&out, &err, wait ? wait : [](absl::Duration) { return false; }};
  return Run(*inv, stub->get(), io);
}

}  // namespace syslinkctl
