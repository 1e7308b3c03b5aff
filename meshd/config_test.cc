#include "meshd/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace meshd {
namespace {

using config::LogConfig;
using config::MeshdConfig;
using google::protobuf::util::MessageDifferencer;

// A fixed environment, so that the defaults do not depend on the machine.
ConfigEnvironment TestEnv() {
  ConfigEnvironment env;
  env.hostname = "testhost";
  env.run_meshd_writable = true;
  return env;
}

absl::StatusOr<MeshdConfig> Parse(const std::string& text) {
  return ParseConfigText(text, "t.conf", TestEnv());
}

// The error message of parsing TEXT ("" if it parsed).
std::string ParseError(const std::string& text) {
  absl::StatusOr<MeshdConfig> config = Parse(text);
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

// The error message of validating CONFIG ("" if valid).
std::string ValidationError(const MeshdConfig& config) {
  absl::Status status = ValidateConfig(config);
  if (status.ok()) return "";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------
// Defaults.

TEST(DefaultsTest, EveryFieldHasItsDocumentedDefault) {
  const MeshdConfig c = DefaultConfig(TestEnv());
  EXPECT_EQ(c.node().name(), "testhost");
  EXPECT_EQ(c.node().id(), NodeIdFromName("testhost"));
  EXPECT_EQ(c.client().socket_path(), "/run/meshd/meshd.sock");
  EXPECT_EQ(c.client().socket_mode(), 0660u);
  EXPECT_EQ(c.client().allowed_uids_size(), 0);
  EXPECT_EQ(c.client().allowed_gids_size(), 0);
  EXPECT_EQ(c.client().max_clients(), 1024u);
  EXPECT_EQ(c.client().max_services(), 256u);
  EXPECT_EQ(c.client().max_sessions_per_client(), 1024u);
  EXPECT_EQ(c.client().max_queued_bytes_per_client(), 4u << 20);
  EXPECT_EQ(c.client().connect_timeout_ms(), 10000u);
  EXPECT_EQ(c.admin().socket_path(), "/run/meshd/admin.sock");
  EXPECT_EQ(c.admin().socket_mode(), 0660u);
  EXPECT_TRUE(c.admin().has_tcp_address());
  EXPECT_EQ(c.admin().tcp_address(), "");
  EXPECT_EQ(c.admin().tls_cert_file(), "");
  EXPECT_EQ(c.mesh().listen_address(), "");
  EXPECT_EQ(c.mesh().peers_size(), 0);
  EXPECT_EQ(c.mesh().cluster_key_file(), "");
  EXPECT_EQ(c.mesh().heartbeat_interval_ms(), 200u);
  EXPECT_EQ(c.mesh().dead_interval_ms(), 1000u);
  EXPECT_EQ(c.mesh().reconnect_backoff_min_ms(), 100u);
  EXPECT_EQ(c.mesh().reconnect_backoff_max_ms(), 5000u);
  EXPECT_EQ(c.mesh().max_link_queued_bytes(), 8u << 20);
  EXPECT_EQ(c.mesh().max_session_inflight_bytes(), 2u << 20);
  EXPECT_EQ(c.mesh().max_nodes(), 1024u);
  EXPECT_EQ(c.mesh().busy_poll_us(), 200u);
  EXPECT_EQ(c.mesh().accept_cluster_key_files_size(), 0);
  EXPECT_EQ(c.regions().max_regions_per_client(), 1024u);
  EXPECT_EQ(c.regions().max_region_bytes(), uint64_t{1} << 30);
  EXPECT_EQ(c.regions().sfbuf_pool_pages(), 1024u);
  EXPECT_EQ(c.metrics().address(), "");
  EXPECT_EQ(c.log().level(), LogConfig::INFO);
  EXPECT_EQ(c.log().format(), LogConfig::TEXT);
  EXPECT_EQ(c.drain().timeout_ms(), 5000u);
  EXPECT_FALSE(MeshEnabled(c));
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
}

TEST(DefaultsTest, EmptyTextIsTheDefaultConfig) {
  absl::StatusOr<MeshdConfig> parsed = Parse("");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*parsed, DefaultConfig(TestEnv())));
}

TEST(DefaultsTest, ProcessEnvironmentGivesAValidConfig) {
  // Whatever this machine's host name and runtime directories are.
  EXPECT_TRUE(ValidateConfig(DefaultConfig()).ok())
      << ValidateConfig(DefaultConfig()) << "\n"
      << ConfigToText(DefaultConfig());
}

TEST(DefaultsTest, ClientSocketPathSearchOrder) {
  ConfigEnvironment env = TestEnv();
  env.syslink_meshd = "/tmp/x/mine.sock";
  env.xdg_runtime_dir = "/run/user/1000";
  MeshdConfig c = DefaultConfig(env);
  EXPECT_EQ(c.client().socket_path(), "/tmp/x/mine.sock");
  EXPECT_EQ(c.admin().socket_path(), "/tmp/x/admin.sock");

  env.syslink_meshd = "";  // set but empty: ignored
  EXPECT_EQ(DefaultConfig(env).client().socket_path(),
            "/run/meshd/meshd.sock");

  env.run_meshd_writable = false;
  c = DefaultConfig(env);
  EXPECT_EQ(c.client().socket_path(), "/run/user/1000/meshd.sock");
  EXPECT_EQ(c.admin().socket_path(), "/run/user/1000/admin.sock");

  env.xdg_runtime_dir = "/run/user/1000/";  // no doubled slash
  EXPECT_EQ(DefaultConfig(env).client().socket_path(),
            "/run/user/1000/meshd.sock");

  env.xdg_runtime_dir.reset();  // nowhere better: the system path
  EXPECT_EQ(DefaultConfig(env).client().socket_path(),
            "/run/meshd/meshd.sock");
}

TEST(DefaultsTest, AdminSocketFollowsExplicitClientSocket) {
  absl::StatusOr<MeshdConfig> c =
      Parse("client { socket_path: \"/var/run/m/c.sock\" }");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->admin().socket_path(), "/var/run/m/admin.sock");
}

TEST(DefaultsTest, NodeNameFromHostName) {
  EXPECT_EQ(SanitizeNodeName("node-1.example.com"), "node-1.example.com");
  EXPECT_EQ(SanitizeNodeName("my host!"), "my-host-");
  EXPECT_EQ(SanitizeNodeName(std::string(100, 'a')), std::string(63, 'a'));
  EXPECT_EQ(SanitizeNodeName(""), "localhost");
  ConfigEnvironment env = TestEnv();
  env.hostname = "weird host";
  EXPECT_EQ(DefaultConfig(env).node().name(), "weird-host");
}

TEST(DefaultsTest, NodeIdFromNameIsStableAndNonzero) {
  // Pinned: ids derived from names must never change.
  EXPECT_EQ(NodeIdFromName("testhost"), 4393475020899953177u);
  EXPECT_NE(NodeIdFromName("node-1"), NodeIdFromName("node-2"));
  EXPECT_NE(NodeIdFromName(""), 0u);
  absl::StatusOr<MeshdConfig> c = Parse("node { name: \"a\" }");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->node().id(), NodeIdFromName("a"));
  c = Parse("node { name: \"a\" id: 7 }");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->node().id(), 7u);
}

TEST(DefaultsTest, DefaultsNeverContradictExplicitValues) {
  absl::StatusOr<MeshdConfig> c = Parse(
      "mesh { heartbeat_interval_ms: 1000 reconnect_backoff_min_ms: 20000 "
      "max_session_inflight_bytes: 16777216 }");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mesh().dead_interval_ms(), 5000u);
  EXPECT_EQ(c->mesh().reconnect_backoff_max_ms(), 20000u);
  EXPECT_EQ(c->mesh().max_link_queued_bytes(), 16777216u);
}

TEST(DefaultsTest, ZeroIsKeptWhereLegal) {
  absl::StatusOr<MeshdConfig> c = Parse("drain { timeout_ms: 0 }");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->drain().timeout_ms(), 0u);
}

// ---------------------------------------------------------------------------
// A full, valid config.

constexpr char kFullConfig[] = R"(# every field set
node { name: "storage-1" id: 42 }
client {
  socket_path: "/run/meshd/client.sock"
  socket_mode: 0600
  allowed_uids: [1000, 1001]
  allowed_gids: 990
  allowed_gids: 991
  max_clients: 4096
  max_services: 128
  max_sessions_per_client: 64
  max_queued_bytes_per_client: 65536
  connect_timeout_ms: 2500
}
admin {
  socket_path: "/run/meshd/ctl.sock"
  socket_mode: 0640
  tcp_address: "10.0.0.1:7947"
  tls_cert_file: "/etc/meshd/admin.crt"
  tls_key_file: "/etc/meshd/admin.key"
  tls_ca_file: "/etc/meshd/ca.crt"
}
mesh {
  listen_address: "[::]:7946"
  peers { name: "storage-2" address: "10.0.0.2:7946" }
  peers: { address: "[fd00::3]:7946" }
  peers { name: "storage-4" address: "storage-4.example.com:7946" }
  cluster_key_file: "/etc/meshd/cluster.key"
  heartbeat_interval_ms: 100
  dead_interval_ms: 450
  reconnect_backoff_min_ms: 50
  reconnect_backoff_max_ms: 60000
  max_link_queued_bytes: 0x2000000
  max_session_inflight_bytes: 262144
  max_nodes: 4
  busy_poll_us: 500
}
regions {
  max_regions_per_client: 10
  max_region_bytes: 4096
  sfbuf_pool_pages: 64
}
metrics { address: "127.0.0.1:9464" }
log { level: DEBUG format: JSON }
drain { timeout_ms: 3600000 }
)";

TEST(FullConfigTest, ParsesWithEveryValue) {
  absl::StatusOr<MeshdConfig> parsed = Parse(kFullConfig);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const MeshdConfig& c = *parsed;
  EXPECT_EQ(c.node().name(), "storage-1");
  EXPECT_EQ(c.node().id(), 42u);
  EXPECT_EQ(c.client().socket_path(), "/run/meshd/client.sock");
  EXPECT_EQ(c.client().socket_mode(), 0600u);
  ASSERT_EQ(c.client().allowed_uids_size(), 2);
  EXPECT_EQ(c.client().allowed_uids(1), 1001u);
  ASSERT_EQ(c.client().allowed_gids_size(), 2);
  EXPECT_EQ(c.client().allowed_gids(0), 990u);
  EXPECT_EQ(c.client().max_clients(), 4096u);
  EXPECT_EQ(c.client().max_services(), 128u);
  EXPECT_EQ(c.client().max_sessions_per_client(), 64u);
  EXPECT_EQ(c.client().max_queued_bytes_per_client(), 65536u);
  EXPECT_EQ(c.client().connect_timeout_ms(), 2500u);
  EXPECT_EQ(c.admin().socket_path(), "/run/meshd/ctl.sock");
  EXPECT_EQ(c.admin().socket_mode(), 0640u);
  EXPECT_EQ(c.admin().tcp_address(), "10.0.0.1:7947");
  EXPECT_EQ(c.admin().tls_ca_file(), "/etc/meshd/ca.crt");
  EXPECT_EQ(c.mesh().listen_address(), "[::]:7946");
  ASSERT_EQ(c.mesh().peers_size(), 3);
  EXPECT_EQ(c.mesh().peers(0).name(), "storage-2");
  EXPECT_EQ(c.mesh().peers(1).name(), "");
  EXPECT_EQ(c.mesh().peers(1).address(), "[fd00::3]:7946");
  EXPECT_EQ(c.mesh().cluster_key_file(), "/etc/meshd/cluster.key");
  EXPECT_EQ(c.mesh().heartbeat_interval_ms(), 100u);
  EXPECT_EQ(c.mesh().dead_interval_ms(), 450u);
  EXPECT_EQ(c.mesh().reconnect_backoff_min_ms(), 50u);
  EXPECT_EQ(c.mesh().reconnect_backoff_max_ms(), 60000u);
  EXPECT_EQ(c.mesh().max_link_queued_bytes(), 32u << 20);
  EXPECT_EQ(c.mesh().max_session_inflight_bytes(), 262144u);
  EXPECT_EQ(c.mesh().max_nodes(), 4u);
  EXPECT_EQ(c.mesh().busy_poll_us(), 500u);
  EXPECT_EQ(c.regions().max_regions_per_client(), 10u);
  EXPECT_EQ(c.regions().max_region_bytes(), 4096u);
  EXPECT_EQ(c.regions().sfbuf_pool_pages(), 64u);
  EXPECT_EQ(c.metrics().address(), "127.0.0.1:9464");
  EXPECT_EQ(c.log().level(), LogConfig::DEBUG);
  EXPECT_EQ(c.log().format(), LogConfig::JSON);
  EXPECT_EQ(c.drain().timeout_ms(), 3600000u);
  EXPECT_TRUE(MeshEnabled(c));
  EXPECT_EQ(ToLogLevel(c.log().level()), common::LogLevel::kDebug);
  EXPECT_EQ(ToLogFormat(c.log().format()), common::LogFormat::kJson);
}

TEST(ConfigToTextTest, RoundTrips) {
  for (const std::string& text : {std::string(kFullConfig), std::string()}) {
    absl::StatusOr<MeshdConfig> c = Parse(text);
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string printed = ConfigToText(*c);
    absl::StatusOr<MeshdConfig> again = Parse(printed);
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
    EXPECT_TRUE(MessageDifferencer::Equals(*c, *again)) << printed;
  }
}

TEST(ConfigToTextTest, ModesInOctalAndEveryFieldShown) {
  const std::string text = ConfigToText(DefaultConfig(TestEnv()));
  EXPECT_NE(text.find("client {\n  socket_path: \"/run/meshd/meshd.sock\"\n"
                      "  socket_mode: 0660\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  dead_interval_ms: 1000\n"), std::string::npos);
  EXPECT_NE(text.find("  listen_address: \"\"\n"), std::string::npos);
  EXPECT_NE(text.find("log {\n  level: INFO\n  format: TEXT\n}\n"),
            std::string::npos);
}

// ---------------------------------------------------------------------------
// Syntax errors and unknown names: protobuf's message, placed.

TEST(ParseErrorTest, SyntaxErrorHasLineAndColumn) {
  EXPECT_EQ(ParseError("node {\n  name: \"a\"\n  id: \n}\n"),
            "t.conf:4:1: Expected integer, got: }");
  EXPECT_EQ(ParseError("client {\n  max_clients: 10\n"),
            "t.conf:3:1: Expected identifier, got: ");
}

TEST(ParseErrorTest, UnknownField) {
  EXPECT_EQ(ParseError("node {\n  nmae: \"a\"\n}\n"),
            "t.conf:2:7: Message type \"meshd.config.NodeConfig\" has no "
            "field named \"nmae\".");
  EXPECT_EQ(ParseError("\n\nlisten_address: \"1.2.3.4:5\"\n"),
            "t.conf:3:15: Message type \"meshd.config.MeshdConfig\" has no "
            "field named \"listen_address\".");
}

TEST(ParseErrorTest, UnknownEnumValue) {
  EXPECT_EQ(ParseError("log { level: LOUD }"),
            "t.conf:1:19: Unknown enumeration value of \"LOUD\" for field "
            "\"level\".");
}

TEST(ParseErrorTest, WrongTypesAndOverflow) {
  EXPECT_EQ(ParseError("client { max_clients: -1 }"),
            "t.conf:1:23: Expected integer, got: -");
  EXPECT_EQ(ParseError("client { max_clients: 4294967296 }"),
            "t.conf:1:23: Integer out of range (4294967296)");
  EXPECT_EQ(ParseError("node { name: 5 }"),
            "t.conf:1:14: Expected string, got: 5");
}

TEST(ParseErrorTest, RepeatedSection) {
  EXPECT_EQ(ParseError("log { }\nlog { }\n"),
            "t.conf:2:5: Non-repeated field \"log\" is specified multiple "
            "times.");
}

// ---------------------------------------------------------------------------
// Validation: "place: field = value: rule".

TEST(ValidationTest, RulesBetweenFieldsNameBoth) {
  EXPECT_EQ(ParseError("mesh {\n  heartbeat_interval_ms: 200\n"
                       "  dead_interval_ms: 300\n}\n"),
            "t.conf:3:3: mesh.dead_interval_ms = 300: must be more than twice "
            "mesh.heartbeat_interval_ms (200)");
  // Exactly twice is not enough.
  EXPECT_EQ(ParseError("mesh { dead_interval_ms: 400 }"),
            "t.conf:1:8: mesh.dead_interval_ms = 400: must be more than twice "
            "mesh.heartbeat_interval_ms (200)");
  EXPECT_EQ(ParseError("mesh { dead_interval_ms: 401 }"), "");
  EXPECT_EQ(ParseError("mesh {\n  reconnect_backoff_min_ms: 500\n"
                       "  reconnect_backoff_max_ms: 400\n}"),
            "t.conf:3:3: mesh.reconnect_backoff_max_ms = 400: must be at "
            "least mesh.reconnect_backoff_min_ms (500)");
  EXPECT_EQ(ParseError("mesh { max_link_queued_bytes: 300000 }"),
            "t.conf:1:8: mesh.max_link_queued_bytes = 300000: must be at "
            "least mesh.max_session_inflight_bytes (2097152)");
}

TEST(ValidationTest, DefaultedFieldIsPlacedAtTheFieldThatConflicts) {
  // cluster_key_file is not in the text: the problem is placed at the
  // listen_address that makes it required.
  EXPECT_EQ(ParseError("mesh {\n  listen_address: \"0.0.0.0:7946\"\n}\n"),
            "t.conf:2:3: mesh.cluster_key_file = \"\": required when "
            "mesh.listen_address or mesh.peers is set");
  EXPECT_EQ(ParseError("# peers only\nmesh {\n  peers { address: "
                       "\"10.0.0.2:7946\" }\n}\n"),
            "t.conf:3:3: mesh.cluster_key_file = \"\": required when "
            "mesh.listen_address or mesh.peers is set");
}

TEST(ValidationTest, OutOfRangeValues) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"client { max_clients: 0 }",
       "t.conf:1:10: client.max_clients = 0: must be in 1..1048576"},
      {"client { max_clients: 1048577 }",
       "t.conf:1:10: client.max_clients = 1048577: must be in 1..1048576"},
      {"client { max_services: 65537 }",
       "t.conf:1:10: client.max_services = 65537: must be in 1..65536"},
      {"client { max_sessions_per_client: 0 }",
       "t.conf:1:10: client.max_sessions_per_client = 0: must be in "
       "1..1048576"},
      {"client { max_queued_bytes_per_client: 65535 }",
       "t.conf:1:10: client.max_queued_bytes_per_client = 65535: must be in "
       "65536..1073741824 (64 KiB..1 GiB)"},
      {"client { connect_timeout_ms: 0 }",
       "t.conf:1:10: client.connect_timeout_ms = 0: must be in 1..3600000"},
      {"client { socket_mode: 01777 }",
       "t.conf:1:10: client.socket_mode = 01777: must be at most 0777 "
       "(permission bits, written in octal)"},
      {"admin { socket_mode: 0x200 }",
       "t.conf:1:9: admin.socket_mode = 01000: must be at most 0777 "
       "(permission bits, written in octal)"},
      {"node { id: 0 }", "t.conf:1:8: node.id = 0: must be nonzero"},
      {"mesh { heartbeat_interval_ms: 9 dead_interval_ms: 100 }",
       "t.conf:1:8: mesh.heartbeat_interval_ms = 9: must be in 10..60000"},
      {"mesh { heartbeat_interval_ms: 60001 dead_interval_ms: 600000 }",
       "t.conf:1:8: mesh.heartbeat_interval_ms = 60001: must be in "
       "10..60000"},
      {"mesh { dead_interval_ms: 600001 }",
       "t.conf:1:8: mesh.dead_interval_ms = 600001: must be at most 600000"},
      {"mesh { reconnect_backoff_min_ms: 0 }",
       "t.conf:1:8: mesh.reconnect_backoff_min_ms = 0: must be in 1..60000"},
      {"mesh { reconnect_backoff_max_ms: 3600001 }",
       "t.conf:1:8: mesh.reconnect_backoff_max_ms = 3600001: must be at most "
       "3600000"},
      {"mesh { max_link_queued_bytes: 17179869185 }",
       "t.conf:1:8: mesh.max_link_queued_bytes = 17179869185: must be at "
       "most 17179869184 (16 GiB)"},
      {"mesh { max_session_inflight_bytes: 1000 }",
       "t.conf:1:8: mesh.max_session_inflight_bytes = 1000: must be in "
       "262144..1073741824 (256 KiB..1 GiB)"},
      {"mesh { max_nodes: 0 }",
       "t.conf:1:8: mesh.max_nodes = 0: must be in 1..65536"},
      {"mesh { busy_poll_us: 100001 }",
       "t.conf:1:8: mesh.busy_poll_us = 100001: must be in 0..100000"},
      {"regions { max_regions_per_client: 0 }",
       "t.conf:1:11: regions.max_regions_per_client = 0: must be in "
       "1..1048576"},
      {"regions { max_region_bytes: 1099511627777 }",
       "t.conf:1:11: regions.max_region_bytes = 1099511627777: must be in "
       "4096..1099511627776 (4 KiB..1 TiB)"},
      {"regions { sfbuf_pool_pages: 63 }",
       "t.conf:1:11: regions.sfbuf_pool_pages = 63: must be in 64..1048576"},
      {"drain { timeout_ms: 3600001 }",
       "t.conf:1:9: drain.timeout_ms = 3600001: must be in 0..3600000"},
      {"log { level: LEVEL_UNSPECIFIED }",
       "t.conf:1:7: log.level = LEVEL_UNSPECIFIED: must be one of DEBUG, "
       "INFO, WARN, ERROR"},
      {"log { level: 9 }",
       "t.conf:1:7: log.level = 9: must be one of DEBUG, INFO, WARN, ERROR"},
      {"log { format: FORMAT_UNSPECIFIED }",
       "t.conf:1:7: log.format = FORMAT_UNSPECIFIED: must be one of TEXT, "
       "JSON"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseError(c.text), c.error) << c.text;
  }
}

TEST(ValidationTest, Names) {
  EXPECT_EQ(ParseError("node { name: \"\" }"),
            "t.conf:1:8: node.name = \"\": must be 1-63 characters from "
            "[A-Za-z0-9._-]");
  EXPECT_EQ(ParseError("node { name: \"has space\" }"),
            "t.conf:1:8: node.name = \"has space\": must be 1-63 characters "
            "from [A-Za-z0-9._-]");
  EXPECT_EQ(ParseError("node { name: \"\\xff\" }"),
            "t.conf:1:8: node.name = \"\\xff\": must be 1-63 characters from "
            "[A-Za-z0-9._-]");
  EXPECT_EQ(ParseError(absl::StrCat("node { name: \"", std::string(64, 'n'),
                                    "\" }")),
            absl::StrCat("t.conf:1:8: node.name = \"", std::string(64, 'n'),
                         "\": must be 1-63 characters from [A-Za-z0-9._-]"));
  EXPECT_EQ(ParseError(absl::StrCat("node { name: \"", std::string(63, 'n'),
                                    "\" }")),
            "");
  EXPECT_EQ(ParseError("node { name: \"A-z_0.9\" }"), "");
}

TEST(ValidationTest, SocketPaths) {
  const std::string long_path = "/" + std::string(107, 's');  // 108 bytes
  EXPECT_EQ(ParseError(absl::StrCat("client { socket_path: \"", long_path,
                                    "\" }")),
            absl::StrCat("t.conf:1:10: client.socket_path = \"", long_path,
                         "\": must be at most 107 bytes (the limit of a Unix "
                         "socket address), not 108"));
  // 107 bytes fit (the admin socket is set apart so it fits too).
  EXPECT_EQ(ParseError(absl::StrCat("client { socket_path: \"",
                                    long_path.substr(1),
                                    "\" }\nadmin { socket_path: \"/a\" }")),
            absl::StrCat("t.conf:1:10: client.socket_path = \"",
                         long_path.substr(1), "\": must be an absolute path"));
  EXPECT_EQ(ParseError(absl::StrCat(
                "client { socket_path: \"", long_path.substr(0, 107),
                "\" }\nadmin { socket_path: \"/run/a.sock\" }")),
            "");
  EXPECT_EQ(ParseError("client { socket_path: \"\" }"),
            "t.conf:1:10: client.socket_path = \"\": required: the path of a "
            "Unix socket\n"
            "t.conf: admin.socket_path = \"admin.sock\": must be an absolute "
            "path");
  EXPECT_EQ(ParseError("admin { socket_path: \"/run/meshd/meshd.sock\" }"),
            "t.conf:1:9: admin.socket_path = \"/run/meshd/meshd.sock\": must "
            "differ from client.socket_path");
  EXPECT_EQ(ParseError("admin { socket_path: \"/run/a\\nb\" }"),
            "t.conf:1:9: admin.socket_path = \"/run/a\\nb\": must not contain "
            "control characters");
}

TEST(ValidationTest, AllowedIds) {
  EXPECT_EQ(ParseError("client {\n  allowed_uids: [1000, 0, 1000]\n"
                       "  allowed_gids: 4294967295\n}"),
            "t.conf:2:3: client.allowed_uids[2] = 1000: duplicate of "
            "client.allowed_uids[0]\n"
            "t.conf:3:3: client.allowed_gids[0] = 4294967295: must not be "
            "4294967295 (-1)");
}

TEST(ValidationTest, AdminTls) {
  EXPECT_EQ(ParseError("admin {\n  tcp_address: \"127.0.0.1:7947\"\n}"),
            "t.conf:2:3: admin.tls_cert_file = \"\": required when "
            "admin.tcp_address is set (TCP is TLS only)\n"
            "t.conf:2:3: admin.tls_key_file = \"\": required when "
            "admin.tcp_address is set (TCP is TLS only)");
  EXPECT_EQ(ParseError("admin {\n  tls_ca_file: \"/etc/ca.pem\"\n}"),
            "t.conf:2:3: admin.tls_ca_file = \"/etc/ca.pem\": only allowed "
            "with admin.tcp_address (which is not set)");
  EXPECT_EQ(ParseError("admin { tcp_address: \"127.0.0.1:0\" tls_cert_file: "
                       "\"c.pem\" tls_key_file: \"/k.pem\" }"),
            "t.conf:1:36: admin.tls_cert_file = \"c.pem\": must be an "
            "absolute path");
}

TEST(ValidationTest, Peers) {
  EXPECT_EQ(
      ParseError("node { name: \"a\" }\n"
                 "mesh {\n"
                 "  cluster_key_file: \"/k\"\n"
                 "  listen_address: \"10.0.0.1:7946\"\n"
                 "  peers { name: \"b\" address: \"10.0.0.2:7946\" }\n"
                 "  peers { name: \"b\" address: \"10.0.0.3:7946\" }\n"
                 "  peers { name: \"a\" address: \"10.0.0.4:0\" }\n"
                 "  peers { name: \"c d\" }\n"
                 "  peers { address: \"10.0.0.2:7946\" }\n"
                 "  peers { address: \"10.0.0.1:7946\" }\n"
                 "}\n"),
      "t.conf:6:11: mesh.peers[1].name = \"b\": duplicate of "
      "mesh.peers[0].name\n"
      "t.conf:7:11: mesh.peers[2].name = \"a\": is this node's own "
      "node.name\n"
      "t.conf:7:21: mesh.peers[2].address = \"10.0.0.4:0\": port must be "
      "in 1..65535\n"
      "t.conf:8:11: mesh.peers[3].name = \"c d\": must be 1-63 characters "
      "from [A-Za-z0-9._-]\n"
      "t.conf:8:3: mesh.peers[3].address = \"\": required: the peer's "
      "host:port\n"
      "t.conf:9:11: mesh.peers[4].address = \"10.0.0.2:7946\": duplicate of "
      "mesh.peers[0].address\n"
      "t.conf:10:11: mesh.peers[5].address = \"10.0.0.1:7946\": is this "
      "node's own mesh.listen_address");
}

TEST(ValidationTest, AcceptedClusterKeyFiles) {
  EXPECT_EQ(ParseError("mesh {\n  cluster_key_file: \"/k\"\n  peers { address: \"h:1\" }\n"
                       "  accept_cluster_key_files: \"next.key\"\n"
                       "  accept_cluster_key_files: \"\"\n}\n"),
            "t.conf:4:3: mesh.accept_cluster_key_files[0] = \"next.key\": must be an "
            "absolute path\n"
            "t.conf:5:3: mesh.accept_cluster_key_files[1] = \"\": must be the path of a "
            "key file");
  std::string five = "mesh { cluster_key_file: \"/k\" peers { address: \"h:1\" }";
  for (int i = 0; i < 5; i++) absl::StrAppend(&five, " accept_cluster_key_files: \"/k", i, "\"");
  EXPECT_NE(ParseError(five + " }").find("mesh.accept_cluster_key_files = 5 files: at most 4"),
            std::string::npos)
      << ParseError(five + " }");
  EXPECT_EQ(ParseError("mesh { cluster_key_file: \"/k\" peers { address: \"h:1\" } "
                       "accept_cluster_key_files: \"/k1\" accept_cluster_key_files: \"/k2\" }"),
            "");
}

TEST(ChangedSettingsTest, NamesEachChangedField) {
  absl::StatusOr<MeshdConfig> a = Parse(
      "node { name: \"n1\" }\nmesh { cluster_key_file: \"/k\" peers { address: \"h:1\" } }");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(ChangedSettings(*a, *a).empty());
  absl::StatusOr<MeshdConfig> b = Parse(
      "node { name: \"n1\" }\nlog { level: WARN }\n"
      "mesh { cluster_key_file: \"/k2\" peers { address: \"h:1\" } peers { address: \"h:2\" } "
      "accept_cluster_key_files: \"/k\" }");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(ChangedSettings(*a, *b),
            (std::vector<std::string>{"mesh.peers", "mesh.cluster_key_file",
                                      "mesh.accept_cluster_key_files", "log.level"}));
  EXPECT_EQ(ChangedSettings(*b, *a), ChangedSettings(*a, *b));
}

TEST(ValidationTest, TooManyPeers) {
  EXPECT_EQ(ParseError("mesh {\n  max_nodes: 2\n  cluster_key_file: \"/k\"\n"
                       "  peers { address: \"h1:1\" }\n"
                       "  peers { address: \"h2:1\" }\n}"),
            "t.conf:4:3: mesh.peers = [2 peers]: must have at most "
            "mesh.max_nodes - 1 (1) entries");
}

TEST(ValidationTest, Addresses) {
  struct Case {
    const char* address;
    const char* error;  // "" if valid
  } cases[] = {
      {"127.0.0.1:7946", ""},
      {"0.0.0.0:0", ""},
      {"[::1]:7946", ""},
      {"[::]:65535", ""},
      {"[fe80::1:2:3:4]:1", ""},
      {"[::ffff:10.0.0.1]:80", ""},
      {"node-2.example.com:7946", ""},
      {"localhost:1", ""},
      {"", "empty: expected \"host:port\" or \"[IPv6]:port\""},
      {"127.0.0.1", "no port: expected \"host:port\" or \"[IPv6]:port\""},
      {"127.0.0.1:", "port \"\" is not a number in 0..65535"},
      {"127.0.0.1:65536", "port \"65536\" is not a number in 0..65535"},
      {"127.0.0.1:-1", "port \"-1\" is not a number in 0..65535"},
      {"127.0.0.1:+80", "port \"+80\" is not a number in 0..65535"},
      {"127.0.0.1:000080", "port \"000080\" is not a number in 0..65535"},
      {"127.0.0.256:80", "\"127.0.0.256\" is not an IPv4 address"},
      {"1.2.3:80", "\"1.2.3\" is not an IPv4 address"},
      {"::1:7946",
       "an IPv6 address needs brackets: \"[IPv6]:port\", as in "
       "\"[::1]:7946\""},
      {"[::1]", "no \":port\" after \"]\": expected \"[IPv6]:port\""},
      {"[::1:7946", "no closing \"]\": expected \"[IPv6]:port\""},
      {"[1.2.3.4]:80",
       "\"1.2.3.4\" is not an IPv6 address: expected \"[IPv6]:port\""},
      {":7946",
       "no host: use \"0.0.0.0:port\" or \"[::]:port\" for every address"},
      {"bad_host:1",
       "\"bad_host\" is not an IPv4 address or a host name (labels of "
       "[A-Za-z0-9-])"},
      {"-a.b:1",
       "\"-a.b\" is not an IPv4 address or a host name (labels of "
       "[A-Za-z0-9-])"},
      {"a..b:1",
       "\"a..b\" is not an IPv4 address or a host name (labels of "
       "[A-Za-z0-9-])"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HostPort> hp = ParseHostPort(c.address);
    if (*c.error == '\0') {
      EXPECT_TRUE(hp.ok()) << c.address << ": " << hp.status();
    } else {
      EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(hp.status().message(), c.error) << c.address;
    }
  }
  absl::StatusOr<HostPort> v6 = ParseHostPort("[fd00::3]:7946");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->kind, HostPort::Kind::kIpv6);
  EXPECT_EQ(v6->host, "fd00::3");
  EXPECT_EQ(v6->port, 7946);
  absl::StatusOr<HostPort> v4 = ParseHostPort("10.1.2.3:0");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->kind, HostPort::Kind::kIpv4);
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 0);
  EXPECT_EQ(ParseHostPort("h.example:80")->kind, HostPort::Kind::kName);
}

TEST(ValidationTest, AddressFieldsNameTheFieldAndValue) {
  EXPECT_EQ(ParseError("metrics { address: \"::1:9464\" }"),
            "t.conf:1:11: metrics.address = \"::1:9464\": an IPv6 address "
            "needs brackets: \"[IPv6]:port\", as in \"[::1]:7946\"");
  EXPECT_EQ(ParseError("mesh { listen_address: \"[::1]:99999\" "
                       "cluster_key_file: \"/k\" }"),
            "t.conf:1:8: mesh.listen_address = \"[::1]:99999\": port "
            "\"99999\" is not a number in 0..65535");
  EXPECT_EQ(ParseError("mesh { listen_address: \"[::1]:0\" "
                       "cluster_key_file: \"/k\" }"),
            "");
}

TEST(ValidationTest, ListenersMustNotShareAPort) {
  EXPECT_EQ(ParseError("mesh { listen_address: \"0.0.0.0:9000\" "
                       "cluster_key_file: \"/k\" }\n"
                       "metrics { address: \"127.0.0.1:9000\" }"),
            "t.conf:2:11: metrics.address = \"127.0.0.1:9000\": uses the same "
            "port as mesh.listen_address");
  // Different hosts, or port 0: fine.
  EXPECT_EQ(ParseError("mesh { listen_address: \"10.0.0.1:9000\" "
                       "cluster_key_file: \"/k\" }\n"
                       "metrics { address: \"127.0.0.1:9000\" }"),
            "");
  EXPECT_EQ(ParseError("mesh { listen_address: \"[::]:0\" "
                       "cluster_key_file: \"/k\" }\n"
                       "metrics { address: \"127.0.0.1:0\" }"),
            "");
}

TEST(ValidationTest, SeveralProblemsOnePerLineAtMostTwenty) {
  std::string text = "client { allowed_uids: [";
  for (int i = 0; i < 30; ++i) text += i ? ", 7" : "7";
  text += "] }";
  const std::string error = ParseError(text);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20) << error;
  EXPECT_NE(error.find("t.conf:1:10: client.allowed_uids[20] = 7: duplicate "
                       "of client.allowed_uids[0]\n... and 9 more problems"),
            std::string::npos)
      << error;
}

TEST(ValidationTest, ValidateConfigWithoutOrigin) {
  MeshdConfig c = DefaultConfig(TestEnv());
  c.mutable_mesh()->set_dead_interval_ms(300);
  c.mutable_client()->set_max_clients(0);
  EXPECT_EQ(ValidationError(c),
            "client.max_clients = 0: must be in 1..1048576\n"
            "mesh.dead_interval_ms = 300: must be more than twice "
            "mesh.heartbeat_interval_ms (200)");
}

TEST(ValidationTest, UnsetFieldsAreJudgedAsZero) {
  const std::string error = ValidationError(MeshdConfig());
  EXPECT_NE(error.find("node.name = \"\": must be 1-63 characters"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("client.max_clients = 0: must be in 1..1048576"),
            std::string::npos)
      << error;
}

// ---------------------------------------------------------------------------
// Files.

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/cfg.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  // Writes CONTENT to DIR/NAME with MODE; returns the path.
  std::string Write(const std::string& name, const std::string& content,
                    mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(FileTest, LoadConfigFile) {
  const std::string path =
      Write("meshd.conf", "node { name: \"n1\" }\nlog { level: WARN }\n", 0644);
  absl::StatusOr<MeshdConfig> c = LoadConfigFile(path, TestEnv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node().name(), "n1");
  EXPECT_EQ(c->log().level(), LogConfig::WARN);
}

TEST_F(FileTest, LoadConfigFileErrorsNameThePath) {
  const std::string bad = Write("bad.conf", "\n\nnode { id: 0 }\n", 0644);
  EXPECT_EQ(LoadConfigFile(bad, TestEnv()).status(),
            absl::InvalidArgumentError(bad + ":3:8: node.id = 0: must be "
                                             "nonzero"));
  const std::string missing = dir_ + "/missing.conf";
  EXPECT_EQ(LoadConfigFile(missing, TestEnv()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadConfigFile(missing, TestEnv()).status().message(),
            "config file " + missing + ": No such file or directory");
  EXPECT_EQ(LoadConfigFile(dir_, TestEnv()).status(),
            absl::InvalidArgumentError("config file " + dir_ +
                                       ": not a regular file"));
  const std::string big =
      Write("big.conf", std::string((1 << 20) + 1, '#'), 0644);
  EXPECT_EQ(LoadConfigFile(big, TestEnv()).status(),
            absl::InvalidArgumentError("config file " + big +
                                       ": larger than 1048576 bytes "
                                       "(1048577)"));
}

TEST_F(FileTest, ClusterKey) {
  const std::string path =
      Write("cluster.key", "  0123456789abcdef-key\n\n", 0600);
  absl::StatusOr<std::string> key = LoadClusterKey(path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "0123456789abcdef-key");
  EXPECT_TRUE(LoadClusterKey(Write("ro.key", std::string(16, 'k'), 0400)).ok());
}

TEST_F(FileTest, ClusterKeys) {
  MeshdConfig c;
  c.mutable_mesh()->set_cluster_key_file(Write("now.key", "key-of-today-0123456\n", 0600));
  c.mutable_mesh()->add_accept_cluster_key_files(Write("next.key", "key-of-tomorrow-01234", 0600));
  absl::StatusOr<ClusterKeyFiles> keys = LoadClusterKeys(c.mesh());
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->key, "key-of-today-0123456");
  EXPECT_EQ(keys->accepted, std::vector<std::string>{"key-of-tomorrow-01234"});
  // An accepted key file is held to the same rules, and named when it fails.
  const std::string open = Write("open.key", std::string(32, 'k'), 0644);
  c.mutable_mesh()->add_accept_cluster_key_files(open);
  keys = LoadClusterKeys(c.mesh());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(keys.status().message().find(open), std::string::npos) << keys.status();
}

TEST_F(FileTest, ClusterKeyMustBePrivate) {
  for (mode_t mode : {0640, 0604, 0660, 0610, 0602, 0644}) {
    const std::string path =
        Write(absl::StrCat("key", mode), std::string(32, 'k'), mode);
    absl::Status s = LoadClusterKey(path).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.message(),
              absl::StrFormat("cluster key file %s: group or others may "
                              "access it (mode 0%o); the key must be private "
                              "to meshd's user: chmod 600 %s",
                              path, mode, path));
  }
}

TEST_F(FileTest, ClusterKeyTooShort) {
  const std::string path = Write("short.key", " 123456789012345 \n", 0600);
  EXPECT_EQ(LoadClusterKey(path).status(),
            absl::InvalidArgumentError(
                "cluster key file " + path +
                ": holds 15 bytes of key after trimming whitespace; at least "
                "16 are required (to make one: head -c 32 /dev/urandom | "
                "base64 > " +
                path + ")"));
}

TEST_F(FileTest, ClusterKeyFileProblems) {
  EXPECT_EQ(LoadClusterKey(dir_ + "/none").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadClusterKey(dir_ + "/none").status().message(),
            "cluster key file " + dir_ + "/none: No such file or directory");
  EXPECT_EQ(LoadClusterKey(dir_).status(),
            absl::InvalidArgumentError("cluster key file " + dir_ +
                                       ": not a regular file"));
  EXPECT_EQ(LoadClusterKey("").status(),
            absl::InvalidArgumentError(
                "cluster key file: no path given (mesh.cluster_key_file)"));
  const std::string big = Write("big.key", std::string(4097, 'k'), 0600);
  EXPECT_EQ(LoadClusterKey(big).status(),
            absl::InvalidArgumentError("cluster key file " + big +
                                       ": larger than 4096 bytes (4097)"));
}

TEST_F(FileTest, ClusterKeyThroughSymlink) {
  const std::string target = Write("real.key", std::string(20, 'k'), 0600);
  const std::string link = dir_ + "/link.key";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_TRUE(LoadClusterKey(link).ok());
}

// ---------------------------------------------------------------------------
// The shipped example and the documentation's example.

TEST(ExampleTest, ExampleConfigIsTheDefaultConfig) {
  const std::string text = ReadFile("meshd/meshd.conf.example");
  absl::StatusOr<MeshdConfig> c =
      ParseConfigText(text, "meshd.conf.example", TestEnv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*c, DefaultConfig(TestEnv())))
      << ConfigToText(*c);
}

// Runs when docs/config.md is at hand: when the test binary is run from the
// workspace root (.bazel/bin/meshd/config_test), or if docs/ becomes a
// package that exports it.
TEST(ExampleTest, DocumentationExampleParses) {
  if (access("docs/config.md", R_OK) != 0) {
    GTEST_SKIP() << "docs/config.md is not in the runfiles";
  }
  const std::string doc = ReadFile("docs/config.md");
  const std::string open = "```textproto\n";
  const size_t start = doc.find(open);
  ASSERT_NE(start, std::string::npos);
  const size_t end = doc.find("```\n", start + open.size());
  ASSERT_NE(end, std::string::npos);
  const std::string text =
      doc.substr(start + open.size(), end - start - open.size());
  absl::StatusOr<MeshdConfig> c =
      ParseConfigText(text, "docs/config.md", TestEnv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mesh().peers_size(), 2);
  EXPECT_EQ(c->mesh().dead_interval_ms(), 500u);
  EXPECT_EQ(c->log().format(), LogConfig::JSON);
}

}  // namespace
}  // namespace meshd
