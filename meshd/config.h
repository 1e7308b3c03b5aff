// meshd's configuration: loading the text-format config file, defaults,
// validation, and the effective config as text.
//
//   absl::StatusOr<meshd::config::MeshdConfig> config =
//       path.empty() ? meshd::ParseConfigText("", "(defaults)")
//                    : meshd::LoadConfigFile(path);
//   if (!config.ok()) { /* print config.status().message(), exit 2 */ }
//   if (meshd::MeshEnabled(*config)) {
//     absl::StatusOr<std::string> key =
//         meshd::LoadClusterKey(config->mesh().cluster_key_file());
//     ...
//   }
//   std::cout << meshd::ConfigToText(*config);   // meshd --check-config
//
// The schema, with every default and range, is proto/config.proto; the
// operator's reference is docs/config.md. Every error names the field path,
// the value and the rule, and (when it comes from a file) where:
//
//   /etc/meshd/meshd.conf:7:3: mesh.dead_interval_ms = 300: must be more
//   than twice mesh.heartbeat_interval_ms (200)
//
// Several problems are reported together, one per line (at most 20).
#ifndef MESHD_CONFIG_H_
#define MESHD_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/log.h"
#include "proto/config.pb.h"

namespace meshd {

// What the defaults depend on outside the config file. FromProcess() reads
// it from this process; tests and tools may fill it in by hand.
struct ConfigEnvironment {
  // This host's name (gethostname()).
  std::string hostname;
  // $SYSLINK_MESHD and $XDG_RUNTIME_DIR; nullopt if unset.
  std::optional<std::string> syslink_meshd;
  std::optional<std::string> xdg_runtime_dir;
  // True if /run/meshd is a directory this process may create files in.
  bool run_meshd_writable = false;

  static ConfigEnvironment FromProcess();
};

// Fills in every field of CONFIG that is not set with its default (see
// proto/config.proto), after which every scalar field and every message
// field is set; repeated fields are left alone. Set fields are never
// changed, even if invalid (ValidateConfig() judges them). Defaults that
// depend on other fields use those fields' final values: node.id follows
// node.name, admin.socket_path follows client.socket_path.
void ApplyDefaults(const ConfigEnvironment& env, config::MeshdConfig* config);
void ApplyDefaults(config::MeshdConfig* config);  // FromProcess()

// An empty config with the defaults applied: what plain `meshd` runs, a
// single-node mesh. The environment can make it invalid (a relative
// $SYSLINK_MESHD, say): ParseConfigText("", origin) also validates it.
config::MeshdConfig DefaultConfig(const ConfigEnvironment& env);
config::MeshdConfig DefaultConfig();  // FromProcess()

// Checks every rule in proto/config.proto: ranges, names, addresses, paths,
// and the rules between fields. CONFIG is meant to have its defaults applied;
// an unset field is judged by its zero value. Returns InvalidArgument
// listing up to 20 problems, one per line, each as
// `field.path = value: rule`, e.g.
//   client.max_clients = 0: must be in 1..1048576
// Does not look at the files or sockets named (see LoadClusterKey()).
absl::Status ValidateConfig(const config::MeshdConfig& config);

// Parses TEXT (protobuf text format, '#' comments) as a MeshdConfig, applies
// the defaults and validates the result. Errors are InvalidArgument, one per
// line, prefixed with ORIGIN (a file name, or "(defaults)", "-", ...) and,
// when the problem is a field written in TEXT, its 1-based line and column:
//   meshd.conf:3:5: Message type "meshd.config.MeshConfig" has no field
//   named "peer".
//   meshd.conf:9:3: client.socket_mode = 01777: must be at most 0777
//   meshd.conf: mesh.dead_interval_ms = 1000: must be more than twice
//   mesh.heartbeat_interval_ms (600)
// Syntax errors and unknown fields or enum values are reported first, and
// then nothing else is checked.
absl::StatusOr<config::MeshdConfig> ParseConfigText(
    std::string_view text, std::string_view origin,
    const ConfigEnvironment& env);
absl::StatusOr<config::MeshdConfig> ParseConfigText(std::string_view text,
                                                    std::string_view origin);

// Reads the file at PATH (a regular file of at most 1 MiB) and parses it
// with ParseConfigText(text, PATH). Besides ParseConfigText()'s errors:
// the errno of open/read as by common::ErrnoToStatus ("config file PATH: No
// such file or directory" is NotFound), InvalidArgument for a file that is
// not regular or is too large.
absl::StatusOr<config::MeshdConfig> LoadConfigFile(
    const std::string& path, const ConfigEnvironment& env);
absl::StatusOr<config::MeshdConfig> LoadConfigFile(const std::string& path);

// Reads the cluster key from the file at PATH (mesh.cluster_key_file) and
// returns it with leading and trailing whitespace removed. The file must be
// a regular file (symbolic links are followed) that neither group nor others
// may access (mode & 077 == 0; else FailedPrecondition, with the chmod 600
// that fixes it), of at most 4096 bytes (InvalidArgument), holding at least
// 16 bytes of key after trimming (InvalidArgument). Open and read errors as
// by common::ErrnoToStatus (NotFound, PermissionDenied...).
absl::StatusOr<std::string> LoadClusterKey(const std::string& path);

// The keys a node authenticates with: mesh.cluster_key_file's, which it
// proves, and mesh.accept_cluster_key_files', which it also takes from
// peers. Each loaded as by LoadClusterKey; the first error is returned,
// naming its file.
struct ClusterKeyFiles {
  std::string key;
  std::vector<std::string> accepted;
};
absl::StatusOr<ClusterKeyFiles> LoadClusterKeys(const config::MeshConfig& mesh);

// The settings that differ between A and B, as dotted field names
// ("mesh.peers", "log.level"): every field of every section, compared by
// value (repeated fields as a whole), in declaration order.
std::vector<std::string> ChangedSettings(const config::MeshdConfig& a,
                                         const config::MeshdConfig& b);

// CONFIG in text format, for `meshd --check-config`: every set field, one per
// line, nested messages indented, socket modes in octal (0660).
// ParseConfigText() of the result gives CONFIG back.
std::string ConfigToText(const config::MeshdConfig& config);

// True if CONFIG links to other nodes: mesh.listen_address or mesh.peers is
// set (then mesh.cluster_key_file is required).
bool MeshEnabled(const config::MeshdConfig& config);

// True if NAME is a valid node name: 1-63 characters from [A-Za-z0-9._-].
bool IsValidNodeName(std::string_view name);

// Turns a host name into a valid node name: every character outside
// [A-Za-z0-9._-] becomes '-', the result is cut to 63 characters, and an
// empty name becomes "localhost".
std::string SanitizeNodeName(std::string_view hostname);

// The default node id for NAME: a 64-bit hash of its bytes (FNV-1a, then
// MurmurHash3's fmix64 finalizer), 1 instead of 0. Stable across builds,
// hosts and versions: node ids derived from it must not change.
uint64_t NodeIdFromName(std::string_view name);

// A parsed "host:port" address.
struct HostPort {
  enum class Kind { kIpv4, kIpv6, kName };
  Kind kind;
  std::string host;  // without the brackets of an IPv6 address
  uint16_t port;
};

// Parses ADDRESS as "a.b.c.d:port", "[IPv6]:port" or "name:port" (name: a
// DNS host name, labels of [A-Za-z0-9-] not starting or ending with '-').
// The port is decimal, 0..65535 (the caller decides whether 0 is allowed).
// InvalidArgument, saying what is wrong and what is expected, otherwise.
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);

// The common/log.h equivalents of the log settings (LEVEL_UNSPECIFIED and
// FORMAT_UNSPECIFIED give the defaults, kInfo and kText).
common::LogLevel ToLogLevel(config::LogConfig::Level level);
common::LogFormat ToLogFormat(config::LogConfig::Format format);

}  // namespace meshd

#endif  // MESHD_CONFIG_H_
