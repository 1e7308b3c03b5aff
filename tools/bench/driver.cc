#include "tools/bench/driver.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/bench/cpu_meter.h"
#include "tools/bench/stats.h"

namespace bench {
namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Whether a phase that has started N round trips and began at START_NS may
// start another at NOW_NS.
bool MayStart(const Phase& phase, int64_t n, int64_t start_ns, int64_t now_ns) {
  if (phase.max_round_trips > 0 && n >= phase.max_round_trips) return false;
  return now_ns - start_ns < absl::ToInt64Nanoseconds(phase.duration);
}

// Runs one latency phase from id *NEXT_ID on; keeps each round trip's
// nanoseconds in *SAMPLES (if not null) and the phase's wall time in
// *ELAPSED_NS.
absl::Status LatencyPhase(MsgClient& client, const Phase& phase, uint64_t* next_id,
                          std::vector<int64_t>* samples, int64_t* elapsed_ns) {
  const int64_t start = NowNs();
  const int64_t pace_ns = absl::ToInt64Nanoseconds(phase.pace);
  int64_t n = 0, t1 = start, t0 = start;
  for (;;) {
    if (pace_ns > 0 && n > 0) {  // PACE after the last round trip started
      const int64_t next = t0 + pace_ns;
      const struct timespec ts = {static_cast<time_t>(next / 1'000'000'000),
                                  static_cast<long>(next % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
    }
    t0 = NowNs();
    if (!MayStart(phase, n, start, t0) || n >= kMaxLatencySamples) break;
    absl::Status s = client.RoundTrip((*next_id)++);
    t1 = NowNs();
    if (!s.ok()) return s;
    if (samples != nullptr) samples->push_back(t1 - t0);
    n++;
  }
  *elapsed_ns = t1 - start;
  return absl::OkStatus();
}

// Runs one windowed phase from id *NEXT_ID on; returns the round trips
// completed in *DONE and the phase's wall time in *ELAPSED_NS.
absl::Status WindowPhase(MsgClient& client, int window, const Phase& phase,
                         uint64_t* next_id, int64_t* done, int64_t* elapsed_ns) {
  const int64_t start = NowNs();
  const uint64_t first = *next_id;
  int64_t sent = 0, received = 0;
  bool sending = true;
  auto send_more = [&]() -> absl::Status {
    while (sending && sent - received < window) {
      if (!MayStart(phase, sent, start, NowNs())) {
        sending = false;
        break;
      }
      absl::Status s = client.Send(first + static_cast<uint64_t>(sent));
      if (!s.ok()) return s;
      sent++;
    }
    return absl::OkStatus();
  };
  absl::Status s = send_more();
  while (s.ok() && received < sent) {
    absl::StatusOr<uint64_t> id = client.Receive();
    if (!id.ok()) return id.status();
    const uint64_t expected = first + static_cast<uint64_t>(received);
    if (*id != expected) {
      return absl::DataLossError(absl::StrCat("reply to ", *id, ", expected ", expected));
    }
    received++;
    s = send_more();
  }
  if (!s.ok()) return s;
  *elapsed_ns = NowNs() - start;
  *done = received;
  *next_id = first + static_cast<uint64_t>(sent);
  return absl::OkStatus();
}

}  // namespace

const double kCdfQuantiles[] = {0.001, 0.01, 0.02, 0.05, 0.1,  0.2,  0.3,   0.4,  0.5, 0.6,
                                0.7,   0.8,  0.9,  0.95, 0.97, 0.98, 0.99, 0.995, 0.999};
const int kCdfPoints = sizeof kCdfQuantiles / sizeof kCdfQuantiles[0];

absl::StatusOr<Measurement> MeasureLatency(MsgClient& client, const Budget& budget) {
  uint64_t id = 1;
  int64_t elapsed = 0;
  absl::Status s = LatencyPhase(client, budget.warmup, &id, nullptr, &elapsed);
  if (!s.ok()) return s;
  std::vector<int64_t> ns;
  ns.reserve(static_cast<size_t>(std::min<int64_t>(
      budget.measure.max_round_trips > 0 ? budget.measure.max_round_trips : 1 << 20,
      kMaxLatencySamples)));
  const absl::StatusOr<CpuTimes> cpu0 = ReadCpuTimes();
  s = LatencyPhase(client, budget.measure, &id, &ns, &elapsed);
  if (!s.ok()) return s;
  const absl::StatusOr<CpuTimes> cpu1 = ReadCpuTimes();
  if (ns.empty() || elapsed <= 0) return absl::InternalError("no round trip was measured");
  std::sort(ns.begin(), ns.end());
  Measurement m;
  auto& metrics = *m.mutable_metrics();
  metrics["p50_us"] = SortedPercentile(ns, 50) / 1e3;
  metrics["p99_us"] = SortedPercentile(ns, 99) / 1e3;
  metrics["round_trips"] = static_cast<double>(ns.size());
  metrics["round_trips_per_s"] = static_cast<double>(ns.size()) * 1e9 / static_cast<double>(elapsed);
  for (int i = 0; i < kCdfPoints; i++) {
    m.add_cdf_us(SortedPercentile(ns, kCdfQuantiles[i] * 100) / 1e3);
  }
  if (cpu0.ok() && cpu1.ok()) AddCpuMetrics(*cpu0, *cpu1, static_cast<double>(ns.size()), &m);
  return m;
}

absl::StatusOr<Measurement> MeasureWindow(MsgClient& client, int window,
                                          size_t bytes_per_round_trip, const Budget& budget) {
  if (window < 1) return absl::InvalidArgumentError("window must be at least 1");
  uint64_t id = 1;
  int64_t done = 0, elapsed = 0;
  absl::Status s = WindowPhase(client, window, budget.warmup, &id, &done, &elapsed);
  if (!s.ok()) return s;
  const absl::StatusOr<CpuTimes> cpu0 = ReadCpuTimes();
  s = WindowPhase(client, window, budget.measure, &id, &done, &elapsed);
  if (!s.ok()) return s;
  const absl::StatusOr<CpuTimes> cpu1 = ReadCpuTimes();
  if (done == 0 || elapsed <= 0) return absl::InternalError("no round trip was measured");
  Measurement m;
  auto& metrics = *m.mutable_metrics();
  const double seconds = static_cast<double>(elapsed) / 1e9;
  metrics["round_trips"] = static_cast<double>(done);
  metrics["round_trips_per_s"] = static_cast<double>(done) / seconds;
  if (bytes_per_round_trip > 0) {
    metrics["gb_per_s"] =
        static_cast<double>(done) * static_cast<double>(bytes_per_round_trip) / seconds / 1e9;
  }
  if (cpu0.ok() && cpu1.ok()) AddCpuMetrics(*cpu0, *cpu1, static_cast<double>(done), &m);
  return m;
}

}  // namespace bench
