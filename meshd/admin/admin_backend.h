// AdminBackend: what the admin API and the metrics endpoint need from meshd,
// as proto/admin.proto messages.
//
// meshd/main.cc implements it over the real components (Broker,
// ClientServer, Relay, MeshNode, the regions and the sf_buf cache);
// FakeAdminBackend (fake_backend.h) implements it for tests. AdminServer
// and MetricsServer call it only through a LoopExecutor, so:
//
//   Threading: every method is called on meshd's event loop thread, and
//   every DONE callback must be called on it too. No method may block.
//
//   class MeshdBackend : public meshd::admin::AdminBackend {
//     absl::StatusOr<ListServicesResponse> ListServices() override {
//       ListServicesResponse r;
//       for (const auto& s : broker_->Services()) { ... r.add_services() ... }
//       return r;
//     }
//     void Ping(const std::string& node, absl::Duration timeout,
//               PingDone done) override {
//       std::optional<NodeId> id = mesh_->Resolve(node);
//       if (!id) return done(absl::UnavailableError("no route to " + node));
//       mesh_->Ping(*id, std::move(done), timeout);
//     }
//     ...
//   };
//
// Errors: a query returns an error only when meshd cannot answer it at all
// (say, FailedPrecondition while a component is not started); the server
// passes its code to the client, except that Unavailable becomes
// FailedPrecondition (UNAVAILABLE means "meshd unreachable" to syslinkctl).
#ifndef MESHD_ADMIN_ADMIN_BACKEND_H_
#define MESHD_ADMIN_ADMIN_BACKEND_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/admin.pb.h"

namespace meshd {
namespace admin {

class AdminBackend {
 public:
  // How a ping ended: the round trip, or why not: Unavailable or NotFound
  // (no route to the node / no such node), DeadlineExceeded (no answer
  // within the timeout), anything else (another failure; its message is
  // shown).
  using PingDone = std::function<void(absl::StatusOr<absl::Duration>)>;
  // How a trace ended: the nodes after this one, in path order, the
  // destination last (hop, node_id, name, rtt_us set); errors as for Ping.
  using TraceDone = std::function<void(absl::StatusOr<std::vector<TraceHop>>)>;

  virtual ~AdminBackend() = default;

  // Queries: a snapshot of how things stand now. Each should cost no more
  // than a walk over the tables involved.

  // version, node_name, node_id, pid, started_unix_ms, uptime_ms, draining,
  // config and health (every HealthSummary field).
  virtual absl::StatusOr<GetStatusResponse> GetStatus() = 0;
  // Every node of the link-state database, this one included, by name.
  virtual absl::StatusOr<ListNodesResponse> ListNodes() = 0;
  // Links (by id) and configured peers (config order).
  virtual absl::StatusOr<ListLinksResponse> ListLinks() = 0;
  // Routes to reachable nodes other than this one, by destination name.
  virtual absl::StatusOr<ListRoutesResponse> ListRoutes() = 0;
  // Sessions matching REQUEST.service ("" = all), by sessid, at most LIMIT
  // of them (the server passes a limit of at least 1, already capped);
  // `total` counts every match.
  virtual absl::StatusOr<ListSessionsResponse> ListSessions(const std::string& service,
                                                            size_t limit) = 0;
  // Services on this node, by name.
  virtual absl::StatusOr<ListServicesResponse> ListServices() = 0;
  // Regions, by id, at most LIMIT (at least 1, capped); `total` and
  // `total_bytes` count every region.
  virtual absl::StatusOr<ListRegionsResponse> ListRegions(size_t limit) = 0;
  // meshd's own sf_buf cache.
  virtual absl::StatusOr<GetSfBufStatsResponse> GetSfBufStats() = 0;
  // Every counter. Keys of the reason maps must come from a fixed set of
  // snake_case words (they become Prometheus label values).
  virtual absl::StatusOr<GetCountersResponse> GetCounters() = 0;

  // Operations.

  // Probes NODE (a node name) once. DONE is called exactly once, on the
  // loop thread, possibly before Ping returns; within TIMEOUT, give or take
  // the mesh's timer granularity.
  virtual void Ping(const std::string& node, absl::Duration timeout, PingDone done) = 0;
  // Traces the path to NODE. DONE as for Ping.
  virtual void Trace(const std::string& node, absl::Duration timeout, TraceDone done) = 0;
  // Enters drain mode (see Admin.Drain in proto/admin.proto); idempotent.
  virtual absl::StatusOr<DrainResponse> Drain() = 0;
};

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_ADMIN_BACKEND_H_
