// meshd: the syslink mesh daemon. Reading this file shows the whole daemon:
// each component is made here and handed what it depends on.
//
//   meshd [--config FILE] [--check-config]
//
// With no config file, meshd runs a single-node mesh with every default
// (docs/config.md). SIGTERM/SIGINT stop it cleanly; SIGHUP reads the config
// file again and applies the cluster keys, the peers, who may connect, the
// limits, the log settings and busy polling (Reload, below); systemd is
// told READY=1 / RELOADING=1 / STOPPING=1 (Type=notify).
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/protobuf_log.h"
#include "libsyslink/sfbuf.h"
#include "meshd/admin/admin_server.h"
#include "meshd/admin/grpc_log.h"
#include "meshd/admin/loop_executor.h"
#include "meshd/admin/metrics_server.h"
#include "meshd/client/broker.h"
#include "meshd/client/client_server.h"
#include "meshd/config.h"
#include "meshd/daemon_admin.h"
#include "meshd/mesh/mesh_node.h"
#include "meshd/mesh_glue.h"
#include "meshd/regions/region_server.h"
#include "meshd/regions/region_table.h"
#include "meshd/relay/relay.h"
#include "meshd/run_loop.h"
#include "meshd/sd_notify.h"
#include "meshd/uv_timer.h"

ABSL_FLAG(std::string, config, "", "configuration file (protobuf text format)");
ABSL_FLAG(bool, check_config, false,
          "check the configuration and the cluster key files, print the effective "
          "configuration (or the error) and exit");

namespace {

using meshd::config::MeshdConfig;

// Everything that runs on the event loop, in the order it is built.
struct Daemon {
  uv_loop_t loop;
  uint32_t drain_timeout_ms = 5000;
  std::unique_ptr<meshd::Broker> broker;
  std::unique_ptr<meshd::ClientServer> clients;
  std::unique_ptr<meshd::MeshGlue> glue;
  std::unique_ptr<meshd::MeshNode> mesh;     // null: a single-node mesh
  std::unique_ptr<meshd::Relay> relay;
  std::unique_ptr<libsyslink::SfBufCache> sfbuf;  // meshd's own page-mapping cache
  std::unique_ptr<meshd::RegionTable> regions;
  std::unique_ptr<meshd::RegionServer> region_server;
  std::unique_ptr<meshd::admin::LoopExecutor> executor;
  std::unique_ptr<meshd::DaemonAdmin> admin_backend;
  std::unique_ptr<meshd::admin::AdminServer> admin;
  std::unique_ptr<meshd::admin::MetricsServer> metrics;
  uv_signal_t sigterm, sigint, sighup;
  std::string config_path;    // "" when running on the defaults
  MeshdConfig* config = nullptr;  // what runs; the admin API shows it
  uv_timer_t drain_timer;
  uint64_t drain_deadline_ms = 0;
  meshd::RunLoopStats loop_stats;  // kept by RunLoop, read by the admin API
  uint32_t busy_poll_us = 0;       // RunLoop's ceiling; a reload may change it
  bool stopping = false;
  bool draining = false;
  bool finished = false;
};

meshd::Broker::Limits BrokerLimits(const MeshdConfig& c) {
  meshd::Broker::Limits l;
  l.max_services = c.client().max_services();
  l.max_sessions_per_client = c.client().max_sessions_per_client();
  l.default_connect_timeout_ms = static_cast<int>(c.client().connect_timeout_ms());
  return l;
}

meshd::ClientServer::Options ClientOptions(const MeshdConfig& c) {
  meshd::ClientServer::Options o;
  o.socket_path = c.client().socket_path();
  o.socket_mode = static_cast<mode_t>(c.client().socket_mode());
  o.allowed_uids.assign(c.client().allowed_uids().begin(), c.client().allowed_uids().end());
  o.allowed_gids.assign(c.client().allowed_gids().begin(), c.client().allowed_gids().end());
  o.max_clients = c.client().max_clients();
  o.max_queued_bytes_per_client = c.client().max_queued_bytes_per_client();
  return o;
}

meshd::RegionTable::Limits RegionLimits(const MeshdConfig& c) {
  meshd::RegionTable::Limits l;
  l.max_regions_per_owner = c.regions().max_regions_per_client();
  l.max_region_bytes = c.regions().max_region_bytes();
  return l;
}

// What meshd has handled so far, all components together: the busy-polling
// loop polls on while this moves (RunLoop's WORK).
uint64_t WorkDone(const Daemon& d) {
  uint64_t n = d.clients->counters().accepted + d.region_server->counters().ops;
  const meshd::Broker::Counters& b = d.broker->counters();
  n += b.listens + b.connects + b.sessions_closed;
  if (d.relay != nullptr) {
    const meshd::Relay::Counters& r = d.relay->counters();
    n += r.frames_in + r.frames_out + r.msgs_to_mesh + r.msgs_to_local;
  }
  if (d.mesh != nullptr) {
    const meshd::MeshCounters& m = d.mesh->counters();
    n += m.data_frames_in + m.heartbeats_in + m.connections_accepted + m.links_down;
  }
  return n;
}

std::vector<meshd::MeshNode::Peer> MeshPeers(const meshd::config::MeshConfig& mesh) {
  std::vector<meshd::MeshNode::Peer> peers;
  for (const auto& p : mesh.peers()) peers.push_back({p.address(), p.name()});
  return peers;
}

meshd::MeshNode::Timers MeshTimers(const meshd::config::MeshConfig& mesh) {
  meshd::MeshNode::Timers t;
  t.heartbeat_interval_ms = mesh.heartbeat_interval_ms();
  t.dead_interval_ms = mesh.dead_interval_ms();
  t.backoff_min_ms = mesh.reconnect_backoff_min_ms();
  t.backoff_max_ms = mesh.reconnect_backoff_max_ms();
  return t;
}

meshd::MeshNode::Options MeshOptions(const MeshdConfig& c, meshd::ClusterKeyFiles keys) {
  meshd::MeshNode::Options o;
  o.node_name = c.node().name();
  o.node_id = c.node().id();
  o.listen_address = c.mesh().listen_address();
  o.peers = MeshPeers(c.mesh());
  o.cluster_key = std::move(keys.key);
  o.accepted_cluster_keys = std::move(keys.accepted);
  const meshd::MeshNode::Timers t = MeshTimers(c.mesh());
  o.heartbeat_interval_ms = t.heartbeat_interval_ms;
  o.dead_interval_ms = t.dead_interval_ms;
  o.backoff_min_ms = t.backoff_min_ms;
  o.backoff_max_ms = t.backoff_max_ms;
  o.max_link_queued_bytes = c.mesh().max_link_queued_bytes();
  o.max_nodes = c.mesh().max_nodes();
  return o;
}

meshd::Relay::Options RelayOptions(const MeshdConfig& c) {
  meshd::Relay::Options o;
  o.window_bytes = static_cast<uint32_t>(c.mesh().max_session_inflight_bytes());
  return o;
}

// The last step of stopping: whatever is still open is told ECONNABORTED,
// every socket closes, and the loop runs out of handles.
void Finish(Daemon* d) {
  if (d->finished) return;
  d->finished = true;
  // The admin API and metrics first (they stop their executor, whose
  // uv_async would otherwise keep the loop alive).
  if (d->admin != nullptr) d->admin->Stop();
  if (d->metrics != nullptr) d->metrics->Stop();
  if (d->executor != nullptr) d->executor->Shutdown();
  if (d->relay != nullptr) d->relay->Shutdown();
  if (d->mesh != nullptr) d->mesh->Stop();
  d->region_server->Stop();
  d->clients->Stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&d->drain_timer), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sighup), nullptr);
}

// SIGHUP: reads the config file again and applies what can change while
// meshd runs: the cluster keys (mesh.cluster_key_file and
// mesh.accept_cluster_key_files), for every handshake from then on (links
// that are up stay up); mesh.peers (MeshNode::SetPeers); the heartbeat and
// dead intervals and the reconnect backoff (MeshNode::SetTimers); who may
// connect and the limits of the client and regions sections (all but the
// socket and sfbuf_pool_pages), for what comes next; drain.timeout_ms; the
// log settings and mesh.busy_poll_us. Other settings that changed are
// named in a warning and take effect at the next restart. A config file or
// key file that does not load changes nothing. systemd is told
// RELOADING=1, then READY=1 with a STATUS= line saying how it went.
void Reload(Daemon* d) {
  meshd::SdNotify("RELOADING=1");
  auto done = [](const std::string& status) {
    meshd::SdNotify("READY=1\nSTATUS=" + status);
  };
  auto fail = [&done](const absl::Status& why) {
    common::Log(common::LogLevel::kError, "meshd", "reload failed, nothing changed")
        .Kv("error", why);
    done("reload failed: " + std::string(why.message()));
  };
  if (d->config_path.empty()) {
    common::Log(common::LogLevel::kWarn, "meshd", "nothing to reload: no config file");
    return done("reload: no config file");
  }
  absl::StatusOr<MeshdConfig> fresh = meshd::LoadConfigFile(d->config_path);
  if (!fresh.ok()) return fail(fresh.status());
  // The mesh: the keys must load, then the peers and the keys change. (A
  // file that turns the mesh on or off needs a restart: named below.)
  absl::StatusOr<meshd::ClusterKeyFiles> keys;
  const bool mesh = d->mesh != nullptr && meshd::MeshEnabled(*fresh);
  if (mesh) {
    keys = meshd::LoadClusterKeys(fresh->mesh());
    if (!keys.ok()) return fail(keys.status());
    if (absl::Status s = d->mesh->SetPeers(MeshPeers(fresh->mesh())); !s.ok()) return fail(s);
    // (Cannot fail either: the config's checks are MeshNode's.)
    if (absl::Status s = d->mesh->SetTimers(MeshTimers(fresh->mesh())); !s.ok()) return fail(s);
    // (Cannot fail: LoadClusterKeys checked what SetClusterKeys does.)
    if (absl::Status s = d->mesh->SetClusterKeys(keys->key, keys->accepted); !s.ok()) {
      return fail(s);
    }
    meshd::config::MeshConfig* m = d->config->mutable_mesh();
    const meshd::config::MeshConfig& f = fresh->mesh();
    *m->mutable_peers() = f.peers();
    m->set_heartbeat_interval_ms(f.heartbeat_interval_ms());
    m->set_dead_interval_ms(f.dead_interval_ms());
    m->set_reconnect_backoff_min_ms(f.reconnect_backoff_min_ms());
    m->set_reconnect_backoff_max_ms(f.reconnect_backoff_max_ms());
    m->set_cluster_key_file(f.cluster_key_file());
    *m->mutable_accept_cluster_key_files() = f.accept_cluster_key_files();
  }
  // Who may connect and the limits: from the next connection, LISTEN,
  // CONNECT or region registration on; what is there already stays.
  d->clients->SetAdmission(ClientOptions(*fresh));
  d->broker->SetLimits(BrokerLimits(*fresh));
  d->regions->SetLimits(RegionLimits(*fresh));
  {
    meshd::config::ClientConfig client = fresh->client();
    client.set_socket_path(d->config->client().socket_path());  // bound at start
    client.set_socket_mode(d->config->client().socket_mode());
    *d->config->mutable_client() = client;
    meshd::config::RegionsConfig regions = fresh->regions();
    regions.set_sfbuf_pool_pages(d->config->regions().sfbuf_pool_pages());  // sized at start
    *d->config->mutable_regions() = regions;
  }
  // The next drain's grace period (one under way keeps its deadline).
  d->drain_timeout_ms = fresh->drain().timeout_ms();
  *d->config->mutable_drain() = fresh->drain();
  *d->config->mutable_log() = fresh->log();
  common::SetLogLevel(meshd::ToLogLevel(fresh->log().level()));
  common::SetLogFormat(meshd::ToLogFormat(fresh->log().format()));
  d->busy_poll_us = fresh->mesh().busy_poll_us();
  d->config->mutable_mesh()->set_busy_poll_us(d->busy_poll_us);
  // What is left differs only where a restart is needed.
  const std::vector<std::string> later = meshd::ChangedSettings(*d->config, *fresh);
  if (!later.empty()) {
    common::Log(common::LogLevel::kWarn, "meshd", "changed settings wait for a restart")
        .Kv("settings", absl::StrJoin(later, ","));
  }
  {
    common::Log log(common::LogLevel::kInfo, "meshd", "reloaded");
    log.Kv("log_level", meshd::config::LogConfig::Level_Name(fresh->log().level()))
        .Kv("busy_poll_us", d->busy_poll_us);
    if (mesh) {
      const std::vector<std::string> ids = d->mesh->ClusterKeyIds();
      log.Kv("key_id", ids[0])
          .Kv("accepted_key_ids", absl::StrJoin(ids.begin() + 1, ids.end(), ","));
    }
  }
  done("reloaded");
}

// Drain: refuse new sessions, let relayed commands in flight finish (up to
// drain.timeout_ms), then Finish. Local sessions do not pass through meshd
// and are not affected. A second signal finishes at once.
// Refuses new sessions from now on (SIGTERM's first step, or the admin
// API's Drain).
void StartDraining(Daemon* d) {
  d->draining = true;
  d->broker->SetDraining(true);
  if (d->relay != nullptr) d->relay->SetDraining(true);
}

void Stop(Daemon* d, const char* why) {
  if (d->stopping) {
    Finish(d);
    return;
  }
  d->stopping = true;
  meshd::SdNotify("STOPPING=1");
  common::Log(common::LogLevel::kInfo, "meshd", "draining")
      .Kv("signal", why)
      .Kv("timeout_ms", d->drain_timeout_ms);
  StartDraining(d);
  d->drain_deadline_ms = uv_now(&d->loop) + d->drain_timeout_ms;
  uv_timer_start(&d->drain_timer, [](uv_timer_t* t) {
    auto* d = static_cast<Daemon*>(t->data);
    const bool busy = d->relay != nullptr && d->relay->Busy();
    if (!busy || uv_now(&d->loop) >= d->drain_deadline_ms) {
      if (busy) common::Log(common::LogLevel::kWarn, "meshd", "drain timed out");
      Finish(d);
    }
  }, 0, 20);
}

}  // namespace

// Accepts --check-config as well as --check_config.
void DashesToUnderscores(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0) continue;
    for (char* p = argv[i] + 2; *p != '\0' && *p != '='; p++) {
      if (*p == '-') *p = '_';
    }
  }
}

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("the syslink mesh daemon\n  meshd [--config FILE] [--check-config]");
  DashesToUnderscores(argc, argv);
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  // What libprotobuf and gRPC say of their own (a Hello whose name is not
  // UTF-8, a failed TLS handshake on the admin port) become rate-limited
  // log events in meshd's format, not raw lines on stderr.
  common::RouteProtobufLogs();
  meshd::RouteGrpcLogs();
  // Frames of remote DMA (128 KiB and more) come and go all the time: keep
  // them on the heap, reused, instead of a fresh mmap() (and its page
  // faults) for each; give memory back only past 16 MiB of free heap.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);

  // Configuration.
  const std::string path = absl::GetFlag(FLAGS_config);
  absl::StatusOr<MeshdConfig> loaded =
      path.empty() ? absl::StatusOr<MeshdConfig>(meshd::DefaultConfig())
                   : meshd::LoadConfigFile(path);
  if (absl::GetFlag(FLAGS_check_config)) {
    // The key files too, as meshd would read them at start or on SIGHUP.
    absl::Status keys = absl::OkStatus();
    if (loaded.ok() && meshd::MeshEnabled(*loaded)) {
      keys = meshd::LoadClusterKeys(loaded->mesh()).status();
    }
    const absl::Status s = loaded.ok() ? keys : loaded.status();
    if (!s.ok()) {
      fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
    fputs(meshd::ConfigToText(*loaded).c_str(), stdout);
    return 0;
  }
  if (!loaded.ok()) {
    fprintf(stderr, "meshd: %s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  MeshdConfig config = *std::move(loaded);  // (SIGHUP may change its keys)
  common::SetLogLevel(meshd::ToLogLevel(config.log().level()));
  common::SetLogFormat(meshd::ToLogFormat(config.log().format()));

  Daemon d;
  uv_loop_init(&d.loop);

  // Services and sessions on this node, and the socket clients reach them by.
  d.broker = std::make_unique<meshd::Broker>(config.node().name(), BrokerLimits(config),
                                             meshd::UvTimers(&d.loop));
  d.broker->SetNodeId(config.node().id());
  d.clients = std::make_unique<meshd::ClientServer>(&d.loop, ClientOptions(config),
                                                    d.broker.get());

  // Registered memory regions: the table, and the built-in service
  // "meshd.regions" that reads and writes them for peers on any node,
  // through meshd's own page-mapping cache.
  libsyslink::SfBufCache::Options sfo;
  sfo.max_pages = config.regions().sfbuf_pool_pages();
  d.sfbuf = std::make_unique<libsyslink::SfBufCache>(sfo);
  d.regions = std::make_unique<meshd::RegionTable>(config.node().id(), RegionLimits(config));
  d.region_server = std::make_unique<meshd::RegionServer>(
      &d.loop, d.broker.get(), d.regions.get(), d.sfbuf.get(), meshd::UvTimers(&d.loop));
  if (!d.region_server->Start()) return 1;

  if (absl::Status s = d.clients->Start(); !s.ok()) {
    common::Log(common::LogLevel::kError, "meshd", "cannot start").Kv("error", s);
    return 1;
  }

  // The mesh: authenticated links to other nodes, routing, and the sessions
  // relayed over them (off when no listen address or peers are configured).
  if (meshd::MeshEnabled(config)) {
    absl::StatusOr<meshd::ClusterKeyFiles> keys = meshd::LoadClusterKeys(config.mesh());
    if (!keys.ok()) {
      common::Log(common::LogLevel::kError, "meshd", "cannot load the cluster key")
          .Kv("error", keys.status());
      return 1;
    }
    d.glue = std::make_unique<meshd::MeshGlue>();
    d.mesh = std::make_unique<meshd::MeshNode>(&d.loop, MeshOptions(config, *std::move(keys)),
                                               d.glue.get());
    d.relay = std::make_unique<meshd::Relay>(&d.loop, RelayOptions(config), d.glue.get(),
                                             d.broker.get(), meshd::UvTimers(&d.loop));
    d.glue->Attach(d.mesh.get(), d.relay.get());
    d.broker->SetRemote(d.relay.get());
    if (absl::Status s = d.mesh->Start(); !s.ok()) {
      common::Log(common::LogLevel::kError, "meshd", "cannot start the mesh").Kv("error", s);
      return 1;
    }
  }
  d.drain_timeout_ms = config.drain().timeout_ms();
  uv_timer_init(&d.loop, &d.drain_timer);
  d.drain_timer.data = &d;

  // The admin API (gRPC, its own threads; they reach the loop through the
  // executor) and Prometheus metrics.
  d.executor = std::make_unique<meshd::admin::LoopExecutor>(&d.loop);
  meshd::DaemonAdmin::Parts parts;
  parts.config = &config;
  parts.config_file = path;
  parts.broker = d.broker.get();
  parts.clients = d.clients.get();
  parts.mesh = d.mesh.get();
  parts.relay = d.relay.get();
  parts.sfbuf = d.sfbuf.get();
  parts.regions = d.regions.get();
  parts.region_server = d.region_server.get();
  parts.loop = &d.loop_stats;
  parts.started_unix_ms = absl::ToUnixMillis(absl::Now());
  parts.start_draining = [&d] { StartDraining(&d); };
  parts.draining = [&d] { return d.draining; };
  d.admin_backend = std::make_unique<meshd::DaemonAdmin>(std::move(parts));
  meshd::admin::AdminServer::Options ao;
  ao.socket_path = config.admin().socket_path();
  ao.socket_mode = static_cast<mode_t>(config.admin().socket_mode());
  ao.tcp_address = config.admin().tcp_address();
  ao.tls_cert_file = config.admin().tls_cert_file();
  ao.tls_key_file = config.admin().tls_key_file();
  ao.tls_ca_file = config.admin().tls_ca_file();
  d.admin = std::make_unique<meshd::admin::AdminServer>(ao, d.executor.get(),
                                                       d.admin_backend.get());
  if (absl::Status s = d.admin->Start(); !s.ok()) {
    common::Log(common::LogLevel::kError, "meshd", "cannot start the admin API").Kv("error", s);
    return 1;
  }
  meshd::admin::MetricsServer::Options mo;
  mo.address = config.metrics().address();
  d.metrics = std::make_unique<meshd::admin::MetricsServer>(mo, d.executor.get(),
                                                           d.admin_backend.get());
  if (absl::Status s = d.metrics->Start(); !s.ok()) {
    common::Log(common::LogLevel::kError, "meshd", "cannot start metrics").Kv("error", s);
    d.admin->Stop();
    return 1;
  }

  // Signals: SIGTERM and SIGINT stop the daemon cleanly, SIGHUP reloads.
  d.config_path = path;
  d.config = &config;
  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  uv_signal_init(&d.loop, &d.sighup);
  d.sigterm.data = d.sigint.data = d.sighup.data = &d;
  uv_signal_start(&d.sighup, [](uv_signal_t* s, int) { Reload(static_cast<Daemon*>(s->data)); },
                  SIGHUP);
  uv_signal_start(&d.sigterm, [](uv_signal_t* s, int) {
    Stop(static_cast<Daemon*>(s->data), "SIGTERM");
  }, SIGTERM);
  uv_signal_start(&d.sigint, [](uv_signal_t* s, int) {
    Stop(static_cast<Daemon*>(s->data), "SIGINT");
  }, SIGINT);

  common::Log(common::LogLevel::kInfo, "meshd", "ready")
      .Kv("node", config.node().name())
      .Kv("node_id", common::Hex(config.node().id()))
      .Kv("mesh_port", d.mesh != nullptr ? d.mesh->listen_port() : 0)
      .Kv("busy_poll_us", config.mesh().busy_poll_us())
      .Kv("key_id", d.mesh != nullptr ? d.mesh->ClusterKeyIds()[0] : "")
      .Kv("pid", getpid());
  meshd::SdNotify("READY=1");
  d.busy_poll_us = config.mesh().busy_poll_us();
  meshd::RunLoop(&d.loop, &d.busy_poll_us, &d.loop_stats, [&d] { return WorkDone(d); });

  d.admin.reset();
  d.metrics.reset();
  d.executor.reset();
  d.admin_backend.reset();
  d.relay.reset();
  d.mesh.reset();
  d.region_server.reset();
  uv_run(&d.loop, UV_RUN_NOWAIT);  // their handles' close callbacks
  d.clients.reset();
  d.broker.reset();
  uv_run(&d.loop, UV_RUN_NOWAIT);
  uv_loop_close(&d.loop);
  common::Log(common::LogLevel::kInfo, "meshd", "stopped");
  return 0;
}
