// meshd's Prometheus metrics: one snapshot of meshd's state, and its
// rendering in the Prometheus text exposition format (version 0.0.4).
//
//   MetricsSnapshot snap = TakeMetricsSnapshot(&executor, &backend,
//                                              absl::Now() + absl::Seconds(2));
//   std::string body = RenderMetrics(snap);
//   // # HELP meshd_up 1 if meshd's event loop answered this scrape in time.
//   // # TYPE meshd_up gauge
//   // meshd_up 1
//   // ...
//
// Every family has HELP and TYPE lines; names start with meshd_; counters
// end in _total, byte amounts in _bytes, times in _seconds. Labels take
// only bounded values: fixed words (direction, kind, state, result), or
// reason words from the backend's counters, of which at most
// kMaxReasonLabels per family are kept (the rest are added up under
// reason="other"), each cut to [a-z0-9_] and 64 characters. No label
// names a peer, node, session or client: per-peer figures are in
// `syslinkctl -j links`. docs/operations.md lists every metric.
#ifndef MESHD_ADMIN_METRICS_TEXT_H_
#define MESHD_ADMIN_METRICS_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "meshd/admin/admin_backend.h"
#include "meshd/admin/loop_executor.h"
#include "proto/admin.pb.h"

namespace meshd {
namespace admin {

// Reason label values kept per family (the rest become "other").
inline constexpr size_t kMaxReasonLabels = 32;

// What one scrape shows. A part whose query failed is left out of the
// output (its has_* is false); if the loop did not answer at all, only
// meshd_up 0 is shown.
struct MetricsSnapshot {
  bool up = false;  // the loop answered
  bool has_status = false, has_counters = false, has_sfbuf = false, has_links = false;
  GetStatusResponse status;
  GetCountersResponse counters;
  GetSfBufStatsResponse sfbuf;
  ListLinksResponse links;
};

// Takes a snapshot with one call on the loop (GetStatus, GetCounters,
// GetSfBufStats, ListLinks), waiting until DEADLINE at most. Any thread but
// the loop's.
MetricsSnapshot TakeMetricsSnapshot(LoopExecutor* executor, AdminBackend* backend,
                                    absl::Time deadline);

// The exposition text of SNAPSHOT: UTF-8, "\n" line ends, families in a
// fixed order, label values escaped (\\, \", \n).
std::string RenderMetrics(const MetricsSnapshot& snapshot);

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_METRICS_TEXT_H_
