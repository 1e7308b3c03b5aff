#include "meshd/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace meshd {
namespace {

using config::LogConfig;
using config::MeshdConfig;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

// Limits of what meshd reads.
constexpr size_t kMaxConfigFileBytes = 1 << 20;
constexpr size_t kMaxKeyFileBytes = 4096;
constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxNodeNameBytes = 63;
constexpr size_t kMaxSocketPathBytes = 107;  // sun_path less its NUL
constexpr int kMaxAcceptedClusterKeys = 4;
constexpr size_t kMaxProblemsReported = 20;

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kTiB = uint64_t{1} << 40;

// Defaults and ranges, as documented in proto/config.proto.
constexpr char kRunMeshdDir[] = "/run/meshd";
constexpr char kClientSocketName[] = "meshd.sock";
constexpr char kAdminSocketName[] = "admin.sock";
constexpr uint32_t kDefaultSocketMode = 0660;
constexpr uint32_t kMaxSocketMode = 0777;
constexpr uint32_t kNoId = 4294967295u;  // (uid_t)-1, (gid_t)-1

constexpr uint32_t kDefaultMaxClients = 1024;
constexpr uint32_t kDefaultMaxServices = 256;
constexpr uint32_t kDefaultMaxSessionsPerClient = 1024;
constexpr uint64_t kDefaultMaxQueuedBytesPerClient = 4 * kMiB;
constexpr uint32_t kDefaultConnectTimeoutMs = 10000;

constexpr uint32_t kDefaultHeartbeatIntervalMs = 200;
constexpr uint32_t kDefaultDeadIntervalHeartbeats = 5;
constexpr uint32_t kDefaultReconnectBackoffMinMs = 100;
constexpr uint32_t kDefaultReconnectBackoffMaxMs = 5000;
constexpr uint64_t kDefaultMaxLinkQueuedBytes = 8 * kMiB;
constexpr uint64_t kDefaultMaxSessionInflightBytes = 2 * kMiB;
constexpr uint32_t kDefaultMaxNodes = 1024;
constexpr uint32_t kDefaultBusyPollUs = 200;

constexpr uint32_t kDefaultMaxRegionsPerClient = 1024;
constexpr uint64_t kDefaultMaxRegionBytes = 1 * kGiB;
constexpr uint32_t kDefaultSfbufPoolPages = 1024;

constexpr uint32_t kDefaultDrainTimeoutMs = 5000;

// Debian's Abseil has its own string_view, distinct from std::string_view.
absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// S as a text-format string literal: "a\"b".
std::string Quote(std::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(AbslView(s)), "\"");
}

std::string Octal(uint32_t mode) { return absl::StrFormat("0%o", mode); }

// 4194304 -> "4 MiB"; "" unless V is a whole number of KiB/MiB/GiB/TiB.
std::string HumanBytes(uint64_t v) {
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {kTiB, "TiB"}, {kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const auto& [unit, name] : kUnits) {
    if (v >= unit && v % unit == 0) return absl::StrCat(v / unit, " ", name);
  }
  return "";
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

bool HasControlCharacters(std::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return true;
  }
  return false;
}

bool IsValidHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(AbslView(host), '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return false;
      }
    }
  }
  return true;
}

bool IsWildcardHost(const HostPort& hp) {
  return hp.host == "0.0.0.0" || hp.host == "::";
}

std::string DefaultClientSocketPath(const ConfigEnvironment& env) {
  if (env.syslink_meshd.has_value() && !env.syslink_meshd->empty()) {
    return *env.syslink_meshd;
  }
  const std::string run_path =
      absl::StrCat(kRunMeshdDir, "/", kClientSocketName);
  if (env.run_meshd_writable) return run_path;
  if (env.xdg_runtime_dir.has_value() && !env.xdg_runtime_dir->empty()) {
    std::string dir = *env.xdg_runtime_dir;
    if (dir.back() != '/') dir.push_back('/');
    return dir + kClientSocketName;
  }
  return run_path;
}

// ---------------------------------------------------------------------------
// Validation.

// One rule broken: FIELD is the path of the field at fault
// ("mesh.peers[1].address"), MESSAGE the whole description. RELATED are
// other fields involved, used to place the problem in the text when FIELD
// itself was not written there (it took its default).
struct Problem {
  std::string field;
  std::string message;
  std::vector<std::string> related;
};

class Checker {
 public:
  // Records "FIELD = VALUE: RULE".
  void Add(const std::string& field, std::string_view value,
           std::string_view rule, std::vector<std::string> related = {}) {
    problems_.push_back(
        Problem{field,
                absl::StrCat(field, " = ", AbslView(value), ": ",
                             AbslView(rule)),
                std::move(related)});
  }

  void Range(const std::string& field, uint64_t value, uint64_t lo,
             uint64_t hi) {
    if (value >= lo && value <= hi) return;
    Add(field, absl::StrCat(value), absl::StrCat("must be in ", lo, "..", hi));
  }

  // A range of bytes, with the bounds also in KiB/MiB/GiB.
  void BytesRange(const std::string& field, uint64_t value, uint64_t lo,
                  uint64_t hi) {
    if (value >= lo && value <= hi) return;
    Add(field, absl::StrCat(value),
        absl::StrCat("must be in ", lo, "..", hi, " (", HumanBytes(lo), "..",
                     HumanBytes(hi), ")"));
  }

  void Mode(const std::string& field, uint32_t mode) {
    if (mode > kMaxSocketMode) {
      Add(field, Octal(mode),
          "must be at most 0777 (permission bits, written in octal)");
    }
  }

  // An absolute path of a file meshd reads; empty is not checked here.
  void FilePath(const std::string& field, const std::string& path) {
    if (path.empty()) return;
    if (path[0] != '/') {
      Add(field, Quote(path), "must be an absolute path");
    } else if (HasControlCharacters(path)) {
      Add(field, Quote(path), "must not contain control characters");
    }
  }

  // A Unix socket path meshd binds: required, and short enough.
  void SocketPath(const std::string& field, const std::string& path) {
    if (path.empty()) {
      Add(field, Quote(path), "required: the path of a Unix socket");
    } else if (path.size() > kMaxSocketPathBytes) {
      Add(field, Quote(path),
          absl::StrCat("must be at most ", kMaxSocketPathBytes,
                       " bytes (the limit of a Unix socket address), not ",
                       path.size()));
    } else {
      FilePath(field, path);
    }
  }

  // A "host:port" address; returns it if it parses.
  std::optional<HostPort> Address(const std::string& field,
                                  const std::string& address,
                                  bool port_zero_ok) {
    absl::StatusOr<HostPort> hp = ParseHostPort(address);
    if (!hp.ok()) {
      Add(field, Quote(address), std::string(hp.status().message()));
      return std::nullopt;
    }
    if (!port_zero_ok && hp->port == 0) {
      Add(field, Quote(address), "port must be in 1..65535");
      return std::nullopt;
    }
    return *std::move(hp);
  }

  // Distinct uids or gids, none of them -1.
  void Ids(const std::string& field,
           const google::protobuf::RepeatedField<uint32_t>& ids) {
    absl::flat_hash_map<uint32_t, int> first;
    for (int i = 0; i < ids.size(); ++i) {
      const std::string item = absl::StrCat(field, "[", i, "]");
      if (ids[i] == kNoId) {
        Add(item, absl::StrCat(ids[i]), "must not be 4294967295 (-1)");
      } else if (auto [it, inserted] = first.emplace(ids[i], i); !inserted) {
        Add(item, absl::StrCat(ids[i]),
            absl::StrCat("duplicate of ", field, "[", it->second, "]"));
      }
    }
  }

  std::vector<Problem> Take() { return std::move(problems_); }

 private:
  std::vector<Problem> problems_;
};

// A listener address that was parsed, for the clash check.
struct Listener {
  std::string field;
  std::string text;  // as written
  HostPort address;
};

std::vector<Problem> Check(const MeshdConfig& c) {
  Checker k;

  const config::NodeConfig& node = c.node();
  if (!IsValidNodeName(node.name())) {
    k.Add("node.name", Quote(node.name()),
          "must be 1-63 characters from [A-Za-z0-9._-]");
  }
  if (node.id() == 0) k.Add("node.id", "0", "must be nonzero");

  const config::ClientConfig& client = c.client();
  k.SocketPath("client.socket_path", client.socket_path());
  k.Mode("client.socket_mode", client.socket_mode());
  k.Ids("client.allowed_uids", client.allowed_uids());
  k.Ids("client.allowed_gids", client.allowed_gids());
  k.Range("client.max_clients", client.max_clients(), 1, 1048576);
  k.Range("client.max_services", client.max_services(), 1, 65536);
  k.Range("client.max_sessions_per_client", client.max_sessions_per_client(),
          1, 1048576);
  k.BytesRange("client.max_queued_bytes_per_client",
               client.max_queued_bytes_per_client(), 64 * kKiB, 1 * kGiB);
  k.Range("client.connect_timeout_ms", client.connect_timeout_ms(), 1,
          3600000);

  std::vector<Listener> listeners;
  const config::AdminConfig& admin = c.admin();
  k.SocketPath("admin.socket_path", admin.socket_path());
  if (!admin.socket_path().empty() &&
      admin.socket_path() == client.socket_path()) {
    k.Add("admin.socket_path", Quote(admin.socket_path()),
          "must differ from client.socket_path", {"client.socket_path"});
  }
  k.Mode("admin.socket_mode", admin.socket_mode());
  k.FilePath("admin.tls_cert_file", admin.tls_cert_file());
  k.FilePath("admin.tls_key_file", admin.tls_key_file());
  k.FilePath("admin.tls_ca_file", admin.tls_ca_file());
  if (!admin.tcp_address().empty()) {
    if (auto hp = k.Address("admin.tcp_address", admin.tcp_address(), true)) {
      listeners.push_back({"admin.tcp_address", admin.tcp_address(), *hp});
    }
    if (admin.tls_cert_file().empty()) {
      k.Add("admin.tls_cert_file", Quote(""),
            "required when admin.tcp_address is set (TCP is TLS only)",
            {"admin.tcp_address"});
    }
    if (admin.tls_key_file().empty()) {
      k.Add("admin.tls_key_file", Quote(""),
            "required when admin.tcp_address is set (TCP is TLS only)",
            {"admin.tcp_address"});
    }
  } else {
    for (const auto& [field, value] :
         {std::pair<std::string, const std::string*>{"admin.tls_cert_file",
                                                     &admin.tls_cert_file()},
          {"admin.tls_key_file", &admin.tls_key_file()},
          {"admin.tls_ca_file", &admin.tls_ca_file()}}) {
      if (!value->empty()) {
        k.Add(field, Quote(*value),
              "only allowed with admin.tcp_address (which is not set)");
      }
    }
  }

  const config::MeshConfig& mesh = c.mesh();
  if (!mesh.listen_address().empty()) {
    if (auto hp =
            k.Address("mesh.listen_address", mesh.listen_address(), true)) {
      listeners.push_back(
          {"mesh.listen_address", mesh.listen_address(), *hp});
    }
  }
  {
    absl::flat_hash_map<std::string, int> names;
    absl::flat_hash_map<std::string, int> addresses;
    for (int i = 0; i < mesh.peers_size(); ++i) {
      const config::Peer& peer = mesh.peers(i);
      const std::string prefix = absl::StrCat("mesh.peers[", i, "]");
      if (!peer.name().empty()) {
        const std::string field = prefix + ".name";
        if (!IsValidNodeName(peer.name())) {
          k.Add(field, Quote(peer.name()),
                "must be 1-63 characters from [A-Za-z0-9._-]");
        } else if (peer.name() == node.name()) {
          k.Add(field, Quote(peer.name()), "is this node's own node.name",
                {"node.name"});
        } else if (auto [it, inserted] = names.emplace(peer.name(), i);
                   !inserted) {
          k.Add(field, Quote(peer.name()),
                absl::StrCat("duplicate of mesh.peers[", it->second, "].name"));
        }
      }
      const std::string field = prefix + ".address";
      if (peer.address().empty()) {
        k.Add(field, Quote(""), "required: the peer's host:port",
              {prefix});
      } else if (auto hp = k.Address(field, peer.address(), false)) {
        const std::string key =
            absl::StrCat(absl::AsciiStrToLower(hp->host), "|", hp->port);
        if (auto [it, inserted] = addresses.emplace(key, i); !inserted) {
          k.Add(field, Quote(peer.address()),
                absl::StrCat("duplicate of mesh.peers[", it->second,
                             "].address"));
        } else if (peer.address() == mesh.listen_address()) {
          k.Add(field, Quote(peer.address()),
                "is this node's own mesh.listen_address",
                {"mesh.listen_address"});
        }
      }
    }
  }
  if (MeshEnabled(c) && mesh.cluster_key_file().empty()) {
    k.Add("mesh.cluster_key_file", Quote(""),
          "required when mesh.listen_address or mesh.peers is set",
          {"mesh.listen_address", "mesh.peers"});
  }
  k.FilePath("mesh.cluster_key_file", mesh.cluster_key_file());
  if (mesh.accept_cluster_key_files_size() > kMaxAcceptedClusterKeys) {
    k.Add("mesh.accept_cluster_key_files",
          absl::StrCat(mesh.accept_cluster_key_files_size(), " files"),
          absl::StrCat("at most ", kMaxAcceptedClusterKeys));
  }
  for (int i = 0; i < mesh.accept_cluster_key_files_size(); i++) {
    const std::string field = absl::StrCat("mesh.accept_cluster_key_files[", i, "]");
    if (mesh.accept_cluster_key_files(i).empty()) {
      k.Add(field, Quote(""), "must be the path of a key file");
    }
    k.FilePath(field, mesh.accept_cluster_key_files(i));
  }
  k.Range("mesh.heartbeat_interval_ms", mesh.heartbeat_interval_ms(), 10,
          60000);
  if (mesh.dead_interval_ms() > 600000) {
    k.Add("mesh.dead_interval_ms", absl::StrCat(mesh.dead_interval_ms()),
          "must be at most 600000");
  } else if (uint64_t{mesh.dead_interval_ms()} <=
             2 * uint64_t{mesh.heartbeat_interval_ms()}) {
    k.Add("mesh.dead_interval_ms", absl::StrCat(mesh.dead_interval_ms()),
          absl::StrCat("must be more than twice mesh.heartbeat_interval_ms (",
                       mesh.heartbeat_interval_ms(), ")"),
          {"mesh.heartbeat_interval_ms"});
  }
  k.Range("mesh.reconnect_backoff_min_ms", mesh.reconnect_backoff_min_ms(), 1,
          60000);
  if (mesh.reconnect_backoff_max_ms() > 3600000) {
    k.Add("mesh.reconnect_backoff_max_ms",
          absl::StrCat(mesh.reconnect_backoff_max_ms()),
          "must be at most 3600000");
  } else if (mesh.reconnect_backoff_max_ms() <
             mesh.reconnect_backoff_min_ms()) {
    k.Add("mesh.reconnect_backoff_max_ms",
          absl::StrCat(mesh.reconnect_backoff_max_ms()),
          absl::StrCat("must be at least mesh.reconnect_backoff_min_ms (",
                       mesh.reconnect_backoff_min_ms(), ")"),
          {"mesh.reconnect_backoff_min_ms"});
  }
  k.BytesRange("mesh.max_session_inflight_bytes",
               mesh.max_session_inflight_bytes(), 256 * kKiB, 1 * kGiB);
  if (mesh.max_link_queued_bytes() > 16 * kGiB) {
    k.Add("mesh.max_link_queued_bytes",
          absl::StrCat(mesh.max_link_queued_bytes()),
          absl::StrCat("must be at most ", 16 * kGiB, " (16 GiB)"));
  } else if (mesh.max_link_queued_bytes() <
             mesh.max_session_inflight_bytes()) {
    k.Add("mesh.max_link_queued_bytes",
          absl::StrCat(mesh.max_link_queued_bytes()),
          absl::StrCat("must be at least mesh.max_session_inflight_bytes (",
                       mesh.max_session_inflight_bytes(), ")"),
          {"mesh.max_session_inflight_bytes"});
  }
  k.Range("mesh.max_nodes", mesh.max_nodes(), 1, 65536);
  k.Range("mesh.busy_poll_us", mesh.busy_poll_us(), 0, 100000);
  if (mesh.max_nodes() >= 1 &&
      static_cast<uint64_t>(mesh.peers_size()) > mesh.max_nodes() - 1) {
    k.Add("mesh.peers", absl::StrCat("[", mesh.peers_size(), " peers]"),
          absl::StrCat("must have at most mesh.max_nodes - 1 (",
                       mesh.max_nodes() - 1, ") entries"),
          {"mesh.max_nodes"});
  }

  const config::RegionsConfig& regions = c.regions();
  k.Range("regions.max_regions_per_client", regions.max_regions_per_client(),
          1, 1048576);
  k.BytesRange("regions.max_region_bytes", regions.max_region_bytes(),
               4 * kKiB, 1 * kTiB);
  k.Range("regions.sfbuf_pool_pages", regions.sfbuf_pool_pages(), 64,
          1048576);

  if (!c.metrics().address().empty()) {
    if (auto hp = k.Address("metrics.address", c.metrics().address(), true)) {
      listeners.push_back({"metrics.address", c.metrics().address(), *hp});
    }
  }

  // Two TCP listeners on one port clash if their hosts are equal or either
  // is a wildcard (port 0 picks a free port: no clash).
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const HostPort& a = listeners[i].address;
      const HostPort& b = listeners[j].address;
      if (a.port == 0 || a.port != b.port) continue;
      if (absl::AsciiStrToLower(a.host) == absl::AsciiStrToLower(b.host) ||
          IsWildcardHost(a) || IsWildcardHost(b)) {
        k.Add(listeners[i].field, Quote(listeners[i].text),
              absl::StrCat("uses the same port as ", listeners[j].field),
              {listeners[j].field});
      }
    }
  }

  const LogConfig& log = c.log();
  if (log.level() < LogConfig::DEBUG || log.level() > LogConfig::ERROR) {
    const auto* value = LogConfig::Level_descriptor()->FindValueByNumber(
        log.level());
    k.Add("log.level",
          value != nullptr ? value->name() : absl::StrCat(log.level()),
          "must be one of DEBUG, INFO, WARN, ERROR");
  }
  if (log.format() < LogConfig::TEXT || log.format() > LogConfig::JSON) {
    const auto* value = LogConfig::Format_descriptor()->FindValueByNumber(
        log.format());
    k.Add("log.format",
          value != nullptr ? value->name() : absl::StrCat(log.format()),
          "must be one of TEXT, JSON");
  }

  k.Range("drain.timeout_ms", c.drain().timeout_ms(), 0, 3600000);
  return k.Take();
}

// Where PATH ("mesh.peers[1].address") was written in the parsed text, or
// line -1 if it was not.
TextFormat::ParseLocation Locate(const TextFormat::ParseInfoTree* tree,
                                 const std::string& path) {
  const Descriptor* descriptor = MeshdConfig::descriptor();
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size() && tree != nullptr; ++i) {
    absl::string_view name = parts[i];
    int index = -1;
    const size_t bracket = name.find('[');
    if (bracket != absl::string_view::npos && name.back() == ']') {
      if (!absl::SimpleAtoi(
              name.substr(bracket + 1, name.size() - bracket - 2), &index)) {
        return {};
      }
      name = name.substr(0, bracket);
    }
    const FieldDescriptor* field =
        descriptor->FindFieldByName(std::string(name));
    if (field == nullptr) return {};
    // A repeated field named without an index: its first entry.
    index = field->is_repeated() ? std::max(index, 0) : -1;
    if (i + 1 == parts.size()) return tree->GetLocation(field, index);
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) return {};
    tree = tree->GetTreeForNested(field, index);
    descriptor = field->message_type();
  }
  return {};
}

// "ORIGIN:LINE:COLUMN: " (1-based), or "ORIGIN: " if LOCATION is unknown.
std::string Prefix(std::string_view origin,
                   const TextFormat::ParseLocation& location) {
  if (location.line < 0) return absl::StrCat(AbslView(origin), ": ");
  return absl::StrCat(AbslView(origin), ":", location.line + 1, ":",
                      location.column + 1, ": ");
}

// The problems as one status, one per line, each prefixed by WHERE(problem).
template <typename Where>
absl::Status ProblemsStatus(const std::vector<Problem>& problems,
                            Where where) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < problems.size() && i < kMaxProblemsReported; ++i) {
    lines.push_back(where(problems[i]) + problems[i].message);
  }
  if (problems.size() > kMaxProblemsReported) {
    lines.push_back(absl::StrCat("... and ",
                                 problems.size() - kMaxProblemsReported,
                                 " more problems"));
  }
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

// Collects the text-format parser's errors.
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit ParseErrors(std::string_view origin) : origin_(origin) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (lines_.size() < kMaxProblemsReported) {
      lines_.push_back(
          Prefix(origin_, TextFormat::ParseLocation(line, column)) + message);
    }
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::string origin_;
  std::vector<std::string> lines_;
};

// Reads the regular file at PATH, of at most MAX_BYTES; WHAT names it in
// errors ("config file"). Sets *ST to its fstat().
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          std::string_view what,
                                          size_t max_bytes, struct stat* st) {
  const std::string name = absl::StrCat(AbslView(what), " ", path);
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below.
  common::UniqueFd fd(
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.ok()) return common::ErrnoToStatus(errno, name);
  if (::fstat(fd.get(), st) != 0) return common::ErrnoToStatus(errno, name);
  if (!S_ISREG(st->st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st->st_size) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": larger than ", max_bytes, " bytes (", st->st_size, ")"));
  }
  std::string data;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return common::ErrnoToStatus(errno, name);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {  // grew while we read
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": larger than ", max_bytes, " bytes"));
    }
  }
  return data;
}

// Prints socket modes in octal, as they are written.
class OctalPrinter : public TextFormat::FastFieldValuePrinter {
 public:
  void PrintUInt32(uint32_t value,
                   TextFormat::BaseTextGenerator* generator) const override {
    generator->PrintString(Octal(value));
  }
};

}  // namespace

ConfigEnvironment ConfigEnvironment::FromProcess() {
  ConfigEnvironment env;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) == 0) env.hostname = host;
  if (const char* v = ::getenv("SYSLINK_MESHD")) env.syslink_meshd = v;
  if (const char* v = ::getenv("XDG_RUNTIME_DIR")) env.xdg_runtime_dir = v;
  struct stat st;
  env.run_meshd_writable =
      ::stat(kRunMeshdDir, &st) == 0 && S_ISDIR(st.st_mode) &&
      ::faccessat(AT_FDCWD, kRunMeshdDir, W_OK | X_OK, AT_EACCESS) == 0;
  return env;
}

void ApplyDefaults(const ConfigEnvironment& env, MeshdConfig* c) {
  config::NodeConfig* node = c->mutable_node();
  if (!node->has_name()) node->set_name(SanitizeNodeName(env.hostname));
  if (!node->has_id()) node->set_id(NodeIdFromName(node->name()));

  config::ClientConfig* client = c->mutable_client();
  if (!client->has_socket_path()) {
    client->set_socket_path(DefaultClientSocketPath(env));
  }
  if (!client->has_socket_mode()) client->set_socket_mode(kDefaultSocketMode);
  if (!client->has_max_clients()) client->set_max_clients(kDefaultMaxClients);
  if (!client->has_max_services()) {
    client->set_max_services(kDefaultMaxServices);
  }
  if (!client->has_max_sessions_per_client()) {
    client->set_max_sessions_per_client(kDefaultMaxSessionsPerClient);
  }
  if (!client->has_max_queued_bytes_per_client()) {
    client->set_max_queued_bytes_per_client(kDefaultMaxQueuedBytesPerClient);
  }
  if (!client->has_connect_timeout_ms()) {
    client->set_connect_timeout_ms(kDefaultConnectTimeoutMs);
  }

  config::AdminConfig* admin = c->mutable_admin();
  if (!admin->has_socket_path()) {
    admin->set_socket_path(Dirname(client->socket_path()) + kAdminSocketName);
  }
  if (!admin->has_socket_mode()) admin->set_socket_mode(kDefaultSocketMode);
  if (!admin->has_tcp_address()) admin->set_tcp_address("");
  if (!admin->has_tls_cert_file()) admin->set_tls_cert_file("");
  if (!admin->has_tls_key_file()) admin->set_tls_key_file("");
  if (!admin->has_tls_ca_file()) admin->set_tls_ca_file("");

  config::MeshConfig* mesh = c->mutable_mesh();
  if (!mesh->has_listen_address()) mesh->set_listen_address("");
  for (config::Peer& peer : *mesh->mutable_peers()) {
    if (!peer.has_name()) peer.set_name("");
    if (!peer.has_address()) peer.set_address("");
  }
  if (!mesh->has_cluster_key_file()) mesh->set_cluster_key_file("");
  if (!mesh->has_heartbeat_interval_ms()) {
    mesh->set_heartbeat_interval_ms(kDefaultHeartbeatIntervalMs);
  }
  if (!mesh->has_dead_interval_ms()) {
    const uint64_t dead = uint64_t{kDefaultDeadIntervalHeartbeats} *
                          mesh->heartbeat_interval_ms();
    mesh->set_dead_interval_ms(
        static_cast<uint32_t>(std::min<uint64_t>(dead, UINT32_MAX)));
  }
  if (!mesh->has_reconnect_backoff_min_ms()) {
    mesh->set_reconnect_backoff_min_ms(kDefaultReconnectBackoffMinMs);
  }
  if (!mesh->has_reconnect_backoff_max_ms()) {
    mesh->set_reconnect_backoff_max_ms(std::max(
        kDefaultReconnectBackoffMaxMs, mesh->reconnect_backoff_min_ms()));
  }
  if (!mesh->has_max_session_inflight_bytes()) {
    mesh->set_max_session_inflight_bytes(kDefaultMaxSessionInflightBytes);
  }
  if (!mesh->has_max_link_queued_bytes()) {
    mesh->set_max_link_queued_bytes(std::max(
        kDefaultMaxLinkQueuedBytes, mesh->max_session_inflight_bytes()));
  }
  if (!mesh->has_max_nodes()) mesh->set_max_nodes(kDefaultMaxNodes);
  if (!mesh->has_busy_poll_us()) mesh->set_busy_poll_us(kDefaultBusyPollUs);

  config::RegionsConfig* regions = c->mutable_regions();
  if (!regions->has_max_regions_per_client()) {
    regions->set_max_regions_per_client(kDefaultMaxRegionsPerClient);
  }
  if (!regions->has_max_region_bytes()) {
    regions->set_max_region_bytes(kDefaultMaxRegionBytes);
  }
  if (!regions->has_sfbuf_pool_pages()) {
    regions->set_sfbuf_pool_pages(kDefaultSfbufPoolPages);
  }

  config::MetricsConfig* metrics = c->mutable_metrics();
  if (!metrics->has_address()) metrics->set_address("");

  config::LogConfig* log = c->mutable_log();
  if (!log->has_level()) log->set_level(LogConfig::INFO);
  if (!log->has_format()) log->set_format(LogConfig::TEXT);

  config::DrainConfig* drain = c->mutable_drain();
  if (!drain->has_timeout_ms()) drain->set_timeout_ms(kDefaultDrainTimeoutMs);
}

void ApplyDefaults(MeshdConfig* config) {
  ApplyDefaults(ConfigEnvironment::FromProcess(), config);
}

MeshdConfig DefaultConfig(const ConfigEnvironment& env) {
  MeshdConfig config;
  ApplyDefaults(env, &config);
  return config;
}

MeshdConfig DefaultConfig() {
  return DefaultConfig(ConfigEnvironment::FromProcess());
}

absl::Status ValidateConfig(const MeshdConfig& config) {
  std::vector<Problem> problems = Check(config);
  if (problems.empty()) return absl::OkStatus();
  return ProblemsStatus(problems, [](const Problem&) { return std::string(); });
}

absl::StatusOr<MeshdConfig> ParseConfigText(std::string_view text,
                                            std::string_view origin,
                                            const ConfigEnvironment& env) {
  MeshdConfig config;
  TextFormat::ParseInfoTree tree;
  ParseErrors errors(origin);
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  const bool parsed = parser.ParseFromString(std::string(text), &config);
  if (!parsed || !errors.lines().empty()) {
    if (errors.lines().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AbslView(origin), ": cannot parse the config"));
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors.lines(), "\n"));
  }
  ApplyDefaults(env, &config);
  std::vector<Problem> problems = Check(config);
  if (problems.empty()) return config;
  return ProblemsStatus(problems, [&](const Problem& p) {
    // The field itself; else a related field; else the nearest enclosing
    // field written in the text ("client" for "client.allowed_uids[2]",
    // since a short list [1, 2, 1] records only its start).
    std::vector<std::string> candidates = {p.field};
    candidates.insert(candidates.end(), p.related.begin(), p.related.end());
    for (std::string path = p.field;;) {
      const size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path.resize(cut);
      candidates.push_back(path);
    }
    for (const std::string& path : candidates) {
      TextFormat::ParseLocation location = Locate(&tree, path);
      if (location.line >= 0) return Prefix(origin, location);
    }
    return Prefix(origin, TextFormat::ParseLocation());
  });
}

absl::StatusOr<MeshdConfig> ParseConfigText(std::string_view text,
                                            std::string_view origin) {
  return ParseConfigText(text, origin, ConfigEnvironment::FromProcess());
}

absl::StatusOr<MeshdConfig> LoadConfigFile(const std::string& path,
                                           const ConfigEnvironment& env) {
  struct stat st;
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, "config file", kMaxConfigFileBytes, &st);
  if (!text.ok()) return text.status();
  return ParseConfigText(*text, path, env);
}

absl::StatusOr<MeshdConfig> LoadConfigFile(const std::string& path) {
  return LoadConfigFile(path, ConfigEnvironment::FromProcess());
}

absl::StatusOr<std::string> LoadClusterKey(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "cluster key file: no path given (mesh.cluster_key_file)");
  }
  struct stat st;
  absl::StatusOr<std::string> data =
      ReadSmallFile(path, "cluster key file", kMaxKeyFileBytes, &st);
  if (!data.ok()) return data.status();
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cluster key file %s: group or others may access it (mode 0%03o); "
        "the key must be private to meshd's user: chmod 600 %s",
        path, st.st_mode & 07777, path));
  }
  std::string key(absl::StripAsciiWhitespace(*data));
  if (key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cluster key file %s: holds %d bytes of key after trimming "
        "whitespace; at least %d are required (to make one: head -c 32 "
        "/dev/urandom | base64 > %s)",
        path, key.size(), kMinKeyBytes, path));
  }
  return key;
}

absl::StatusOr<ClusterKeyFiles> LoadClusterKeys(const config::MeshConfig& mesh) {
  ClusterKeyFiles keys;
  absl::StatusOr<std::string> key = LoadClusterKey(mesh.cluster_key_file());
  if (!key.ok()) return key.status();
  keys.key = *std::move(key);
  for (const std::string& path : mesh.accept_cluster_key_files()) {
    absl::StatusOr<std::string> other = LoadClusterKey(path);
    if (!other.ok()) return other.status();
    keys.accepted.push_back(*std::move(other));
  }
  return keys;
}

namespace {

// FIELD of M as text: each value on a line; "" when unset.
std::string FieldText(const google::protobuf::Message& m, const FieldDescriptor* f) {
  const google::protobuf::Reflection* r = m.GetReflection();
  TextFormat::Printer printer;
  std::string out, v;
  if (f->is_repeated()) {
    for (int i = 0; i < r->FieldSize(m, f); i++) {
      printer.PrintFieldValueToString(m, f, i, &v);
      absl::StrAppend(&out, v, "\n");
    }
  } else if (r->HasField(m, f)) {
    printer.PrintFieldValueToString(m, f, -1, &out);
  }
  return out;
}

}  // namespace

std::vector<std::string> ChangedSettings(const MeshdConfig& a, const MeshdConfig& b) {
  std::vector<std::string> changed;
  const Descriptor* top = MeshdConfig::descriptor();
  for (int i = 0; i < top->field_count(); i++) {
    const FieldDescriptor* section = top->field(i);
    if (section->type() != FieldDescriptor::TYPE_MESSAGE || section->is_repeated()) {
      if (FieldText(a, section) != FieldText(b, section)) changed.push_back(section->name());
      continue;
    }
    const google::protobuf::Message& sa = a.GetReflection()->GetMessage(a, section);
    const google::protobuf::Message& sb = b.GetReflection()->GetMessage(b, section);
    const Descriptor* d = section->message_type();
    for (int k = 0; k < d->field_count(); k++) {
      if (FieldText(sa, d->field(k)) != FieldText(sb, d->field(k))) {
        changed.push_back(absl::StrCat(section->name(), ".", d->field(k)->name()));
      }
    }
  }
  return changed;
}

std::string ConfigToText(const MeshdConfig& config) {
  TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(true);
  printer.RegisterFieldValuePrinter(
      config::ClientConfig::descriptor()->FindFieldByName("socket_mode"),
      new OctalPrinter);
  printer.RegisterFieldValuePrinter(
      config::AdminConfig::descriptor()->FindFieldByName("socket_mode"),
      new OctalPrinter);
  std::string text;
  printer.PrintToString(config, &text);
  return text;
}

bool MeshEnabled(const MeshdConfig& config) {
  return !config.mesh().listen_address().empty() ||
         config.mesh().peers_size() > 0;
}

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNodeNameBytes) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string SanitizeNodeName(std::string_view hostname) {
  std::string name(hostname.substr(0, kMaxNodeNameBytes));
  for (char& c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      c = '-';
    }
  }
  return name.empty() ? "localhost" : name;
}

uint64_t NodeIdFromName(std::string_view name) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a offset basis
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;  // FNV prime
  }
  // fmix64, so that similar names give unrelated ids.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h != 0 ? h : 1;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  if (address.empty()) {
    return absl::InvalidArgumentError(
        "empty: expected \"host:port\" or \"[IPv6]:port\"");
  }
  HostPort hp;
  std::string_view host;
  std::string_view port;
  if (address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          "no closing \"]\": expected \"[IPv6]:port\"");
    }
    host = address.substr(1, close - 1);
    if (close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          "no \":port\" after \"]\": expected \"[IPv6]:port\"");
    }
    port = address.substr(close + 2);
    struct in6_addr a6;
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(host), " is not an IPv6 address: expected \"[IPv6]:port\""));
    }
    hp.kind = HostPort::Kind::kIpv6;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          "no port: expected \"host:port\" or \"[IPv6]:port\"");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          "an IPv6 address needs brackets: \"[IPv6]:port\", as in "
          "\"[::1]:7946\"");
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(
          "no host: use \"0.0.0.0:port\" or \"[::]:port\" for every address");
    }
    struct in_addr a4;
    if (::inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) {
      hp.kind = HostPort::Kind::kIpv4;
    } else if (host.find_first_not_of("0123456789.") ==
               std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(host), " is not an IPv4 address"));
    } else if (IsValidHostName(host)) {
      hp.kind = HostPort::Kind::kName;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(host),
          " is not an IPv4 address or a host name (labels of [A-Za-z0-9-])"));
    }
  }
  uint32_t port_number = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(AbslView(port), &port_number) ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", Quote(port), " is not a number in 0..65535"));
  }
  hp.host = std::string(host);
  hp.port = static_cast<uint16_t>(port_number);
  return hp;
}

common::LogLevel ToLogLevel(config::LogConfig::Level level) {
  switch (level) {
    case LogConfig::DEBUG:
      return common::LogLevel::kDebug;
    case LogConfig::WARN:
      return common::LogLevel::kWarn;
    case LogConfig::ERROR:
      return common::LogLevel::kError;
    default:
      return common::LogLevel::kInfo;
  }
}

common::LogFormat ToLogFormat(config::LogConfig::Format format) {
  return format == LogConfig::JSON ? common::LogFormat::kJson
                                   : common::LogFormat::kText;
}

}  // namespace meshd
