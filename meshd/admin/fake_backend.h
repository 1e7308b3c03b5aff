// FakeAdminBackend (tests only): an AdminBackend whose answers tests set.
//
//   meshd::admin::FakeAdminBackend fake;          // a healthy sample mesh
//   fake.Mutate([](FakeAdminBackend::State& s) {
//     s.status.set_draining(true);
//     s.ping["node-c"] = {absl::UnavailableError("no route to node-c")};
//   });
//
// The sample mesh, as seen from node-a (id 0xa), healthy (syslinkctl finds
// no problem in it):
//   nodes    node-a (self), node-b (reachable over link 1), node-c
//            (reachable through node-b)
//   links    1: to node-b, established, dialed; peers: 10.0.0.2:7946 (up)
//   sessions one local (echo), one client edge (kv on node-c)
//   services echo (pid 100), kv-proxy (pid 101)
//   regions  two; sf_buf and counters with distinct nonzero values
//   ping     node-b 250us, node-c 1.5ms; anything else: Unavailable
//   trace    node-c: node-b (200us), node-c (1.5ms)
//
// Thread-safe: tests may change the state while the server reads it.
#ifndef MESHD_ADMIN_FAKE_BACKEND_H_
#define MESHD_ADMIN_FAKE_BACKEND_H_

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "meshd/admin/admin_backend.h"

namespace meshd {
namespace admin {

class FakeAdminBackend : public AdminBackend {
 public:
  struct State {
    GetStatusResponse status;
    ListNodesResponse nodes;
    ListLinksResponse links;
    ListRoutesResponse routes;
    ListSessionsResponse sessions;  // `total` is recomputed per call
    ListServicesResponse services;
    ListRegionsResponse regions;    // `total` is recomputed per call
    GetSfBufStatsResponse sfbuf;
    GetCountersResponse counters;
    DrainResponse drain;  // what Drain() answers (was_draining is kept true after)
    // Each query fails with this if it is not ok.
    absl::Status query_error = absl::OkStatus();
    // Ping results per node, used in order; the last one repeats. A node
    // not listed: Unavailable. An empty deque: DONE is kept, never called.
    std::map<std::string, std::deque<absl::StatusOr<absl::Duration>>> ping;
    std::map<std::string, absl::StatusOr<std::vector<TraceHop>>> trace;
  };

  // Starts with the sample mesh above.
  FakeAdminBackend();

  // Runs FN on the state under the lock.
  void Mutate(const std::function<void(State&)>& fn);
  // What the backend was asked, in order: "GetStatus", "Ping node-b 5000ms",
  // "ListSessions echo 10000"...
  std::vector<std::string> calls() const;
  // DONE callbacks that were kept (never called).
  size_t kept_callbacks() const;

  // The sample mesh's state.
  static State Sample();

  absl::StatusOr<GetStatusResponse> GetStatus() override;
  absl::StatusOr<ListNodesResponse> ListNodes() override;
  absl::StatusOr<ListLinksResponse> ListLinks() override;
  absl::StatusOr<ListRoutesResponse> ListRoutes() override;
  absl::StatusOr<ListSessionsResponse> ListSessions(const std::string& service,
                                                    size_t limit) override;
  absl::StatusOr<ListServicesResponse> ListServices() override;
  absl::StatusOr<ListRegionsResponse> ListRegions(size_t limit) override;
  absl::StatusOr<GetSfBufStatsResponse> GetSfBufStats() override;
  absl::StatusOr<GetCountersResponse> GetCounters() override;
  void Ping(const std::string& node, absl::Duration timeout, PingDone done) override;
  void Trace(const std::string& node, absl::Duration timeout, TraceDone done) override;
  absl::StatusOr<DrainResponse> Drain() override;

 private:
  template <typename T>
  absl::StatusOr<T> Answer(const char* name, const T& value);

  mutable std::mutex mu_;
  State state_;
  std::vector<std::string> calls_;
  std::vector<PingDone> kept_pings_;
};

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_FAKE_BACKEND_H_
