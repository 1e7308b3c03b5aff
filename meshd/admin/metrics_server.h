// MetricsServer: meshd's Prometheus endpoint, GET /metrics over HTTP
// (libmicrohttpd, on its own thread).
//
//   meshd::admin::MetricsServer::Options o;
//   o.address = config.metrics().address();    // "127.0.0.1:9464"; "" = off
//   meshd::admin::MetricsServer metrics(o, &executor, &backend);
//   if (absl::Status s = metrics.Start(); !s.ok()) ...;
//   ...
//   metrics.Stop();   // on the loop thread, when meshd stops
//
// Each scrape takes one snapshot on the event loop through EXECUTOR
// (metrics_text.h) and renders it; if the loop does not answer within
// Options::scrape_timeout the scrape still succeeds with `meshd_up 0`.
// Paths: /metrics (GET, HEAD); / answers a one-line pointer to /metrics;
// anything else 404, other methods 405. No authentication and no TLS: keep
// it on loopback or a management network (docs/operations.md).
#ifndef MESHD_ADMIN_METRICS_SERVER_H_
#define MESHD_ADMIN_METRICS_SERVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "meshd/admin/admin_backend.h"
#include "meshd/admin/loop_executor.h"

struct MHD_Daemon;

namespace meshd {
namespace admin {

class MetricsServer {
 public:
  struct Options {
    // "host:port" with host an IPv4 address, an [IPv6] address or a host
    // name (resolved once, at Start; the first address is used); port
    // 0..65535, 0 = any free port (see port()). Empty: the server is off.
    std::string address;
    // How long a scrape waits for the event loop.
    absl::Duration scrape_timeout = absl::Seconds(2);
    // HTTP connections open at once; more are refused.
    unsigned connection_limit = 16;
  };

  // EXECUTOR and BACKEND must outlive the server.
  MetricsServer(Options options, LoopExecutor* executor, AdminBackend* backend);
  // Stop()s if needed.
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts serving (nothing, successfully, if the address is empty). Fails
  // with InvalidArgument for a malformed address, NotFound if the host does
  // not resolve, Internal if the HTTP server cannot start (e.g. the port is
  // taken). Call once; any thread.
  absl::Status Start();

  // Shuts the executor down (idempotent; on the loop thread unless it was
  // shut down already) so a scrape in progress ends at once, then stops the
  // HTTP server and joins its thread. Idempotent.
  void Stop();

  // The bound port (the chosen one after port 0); 0 when off.
  int port() const { return port_; }

 private:
  struct Handler;

  const Options options_;
  LoopExecutor* const executor_;
  AdminBackend* const backend_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

// Splits "host:port" or "[v6]:port" into HOST (brackets removed) and PORT.
// Returns InvalidArgument unless the port is a decimal 0..65535 and the host
// is not empty.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_METRICS_SERVER_H_
