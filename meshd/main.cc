// meshd: the syslink mesh daemon. Reading this file shows the whole daemon:
// each component is made here and handed what it depends on.
//
//   meshd [--config FILE] [--check-config]
//
// With no config file, meshd runs a single-node mesh with every default
// (docs/config.md). SIGTERM/SIGINT stop it cleanly; systemd is told
// READY=1 / STOPPING=1 (Type=notify).
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/log.h"
#include "meshd/client/broker.h"
#include "meshd/client/client_server.h"
#include "meshd/config.h"
#include "meshd/sd_notify.h"
#include "meshd/uv_timer.h"

ABSL_FLAG(std::string, config, "", "configuration file (protobuf text format)");
ABSL_FLAG(bool, check_config, false,
          "print the effective configuration (or the error) and exit");

namespace {

using meshd::config::MeshdConfig;

// Everything that runs on the event loop, in the order it is built.
struct Daemon {
  uv_loop_t loop;
  std::unique_ptr<meshd::Broker> broker;
  std::unique_ptr<meshd::ClientServer> clients;
  uv_signal_t sigterm, sigint;
  bool stopping = false;
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

void Stop(Daemon* d, const char* why) {
  if (d->stopping) return;
  d->stopping = true;
  meshd::SdNotify("STOPPING=1");
  common::Log(common::LogLevel::kInfo, "meshd", "stopping").Kv("signal", why);
  d->broker->SetDraining(true);
  d->clients->Stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigint), nullptr);
  // The loop ends when the last handle has closed.
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

  // Configuration.
  const std::string path = absl::GetFlag(FLAGS_config);
  absl::StatusOr<MeshdConfig> loaded =
      path.empty() ? absl::StatusOr<MeshdConfig>(meshd::DefaultConfig())
                   : meshd::LoadConfigFile(path);
  if (absl::GetFlag(FLAGS_check_config)) {
    if (!loaded.ok()) {
      fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    fputs(meshd::ConfigToText(*loaded).c_str(), stdout);
    return 0;
  }
  if (!loaded.ok()) {
    fprintf(stderr, "meshd: %s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  const MeshdConfig config = *std::move(loaded);
  common::SetLogLevel(meshd::ToLogLevel(config.log().level()));
  common::SetLogFormat(meshd::ToLogFormat(config.log().format()));

  Daemon d;
  uv_loop_init(&d.loop);

  // Services and sessions on this node, and the socket clients reach them by.
  d.broker = std::make_unique<meshd::Broker>(config.node().name(), BrokerLimits(config),
                                             meshd::UvTimers(&d.loop));
  d.clients = std::make_unique<meshd::ClientServer>(&d.loop, ClientOptions(config),
                                                    d.broker.get());
  if (absl::Status s = d.clients->Start(); !s.ok()) {
    common::Log(common::LogLevel::kError, "meshd", "cannot start").Kv("error", s);
    return 1;
  }

  // Signals: SIGTERM and SIGINT stop the daemon cleanly.
  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, [](uv_signal_t* s, int) {
    Stop(static_cast<Daemon*>(s->data), "SIGTERM");
  }, SIGTERM);
  uv_signal_start(&d.sigint, [](uv_signal_t* s, int) {
    Stop(static_cast<Daemon*>(s->data), "SIGINT");
  }, SIGINT);

  common::Log(common::LogLevel::kInfo, "meshd", "ready")
      .Kv("node", config.node().name())
      .Kv("node_id", common::Hex(config.node().id()))
      .Kv("pid", getpid());
  meshd::SdNotify("READY=1");
  uv_run(&d.loop, UV_RUN_DEFAULT);

  d.clients.reset();
  d.broker.reset();
  uv_loop_close(&d.loop);
  common::Log(common::LogLevel::kInfo, "meshd", "stopped");
  return 0;
}
