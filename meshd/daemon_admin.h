// DaemonAdmin: the admin API's view of the running daemon (an
// admin::AdminBackend over the real components). Every method runs on the
// loop thread (the admin server calls it through its LoopExecutor).
#ifndef MESHD_DAEMON_ADMIN_H_
#define MESHD_DAEMON_ADMIN_H_

#include <cstdint>
#include <functional>
#include <string>

#include "libsyslink/sfbuf.h"
#include "meshd/admin/admin_backend.h"
#include "meshd/client/broker.h"
#include "meshd/client/client_server.h"
#include "meshd/mesh/mesh_node.h"
#include "meshd/regions/region_server.h"
#include "meshd/regions/region_table.h"
#include "meshd/relay/relay.h"
#include "meshd/run_loop.h"
#include "proto/config.pb.h"

namespace meshd {

class DaemonAdmin : public admin::AdminBackend {
 public:
  struct Parts {
    const config::MeshdConfig* config = nullptr;
    std::string config_file;  // "" = built-in defaults
    Broker* broker = nullptr;
    ClientServer* clients = nullptr;
    MeshNode* mesh = nullptr;  // null: a single-node mesh
    Relay* relay = nullptr;    // null with mesh
    libsyslink::SfBufCache* sfbuf = nullptr;
    RegionTable* regions = nullptr;
    RegionServer* region_server = nullptr;
    const RunLoopStats* loop = nullptr;  // null: no counters from the loop
    int64_t started_unix_ms = 0;
    // Drain(): refuse new sessions (the daemon keeps running).
    std::function<void()> start_draining;
    std::function<bool()> draining;
  };
  explicit DaemonAdmin(Parts parts) : p_(std::move(parts)) {}

  absl::StatusOr<admin::GetStatusResponse> GetStatus() override;
  absl::StatusOr<admin::ListNodesResponse> ListNodes() override;
  absl::StatusOr<admin::ListLinksResponse> ListLinks() override;
  absl::StatusOr<admin::ListRoutesResponse> ListRoutes() override;
  absl::StatusOr<admin::ListSessionsResponse> ListSessions(const std::string& service,
                                                           size_t limit) override;
  absl::StatusOr<admin::ListServicesResponse> ListServices() override;
  absl::StatusOr<admin::ListRegionsResponse> ListRegions(size_t limit) override;
  absl::StatusOr<admin::GetSfBufStatsResponse> GetSfBufStats() override;
  absl::StatusOr<admin::GetCountersResponse> GetCounters() override;
  void Ping(const std::string& node, absl::Duration timeout, PingDone done) override;
  void Trace(const std::string& node, absl::Duration timeout, TraceDone done) override;
  absl::StatusOr<admin::DrainResponse> Drain() override;

 private:
  Parts p_;
};

// The version meshd reports (VERSION at the top of the tree).
extern const char kMeshdVersion[];

}  // namespace meshd

#endif  // MESHD_DAEMON_ADMIN_H_
