// Drivers: the client-side loops that measure a transport (transport.h).
//
//   Budget budget{{absl::Milliseconds(200), 0}, {absl::Seconds(1), 0}};
//   absl::StatusOr<Measurement> m = MeasureLatency(*client, budget);
//   // m->metrics(): p50_us, p99_us, round_trips_per_s, round_trips
//
// Each driver first runs a warm-up phase whose results are discarded, then
// the measured phase. A phase starts round trips until its duration has
// passed or its round-trip cap is reached, whichever comes first; every
// round trip started is completed and counted.
#ifndef TOOLS_BENCH_DRIVER_H_
#define TOOLS_BENCH_DRIVER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/report.pb.h"
#include "tools/bench/transport.h"

namespace bench {

struct Phase {
  absl::Duration duration;      // start no round trip after this much time
  int64_t max_round_trips = 0;  // nor more than this many (0: no cap)
  // Latency drivers: start round trips at most this often, sleeping
  // between them (0: back to back). Windowed drivers ignore it.
  absl::Duration pace = absl::ZeroDuration();
};

struct Budget {
  Phase warmup;
  Phase measure;
};

// The most latency samples one measured phase keeps (80 MB): the phase
// ends when it has this many.
constexpr int64_t kMaxLatencySamples = 10'000'000;

// The quantiles at which latency drivers record the round-trip time
// (Measurement.cdf_us), from 0.1 % to 99.9 %.
extern const double kCdfQuantiles[];
extern const int kCdfPoints;

// One round trip at a time (MsgClient::RoundTrip), each timed with
// clock_gettime(CLOCK_MONOTONIC). Metrics: p50_us and p99_us (nearest-rank
// percentiles of the measured round trips), round_trips_per_s (count over
// the phase's wall time) and round_trips; cdf_us at kCdfQuantiles. Both
// drivers add cpu_us and steal_pct for the measured phase (cpu_meter.h)
// where /proc/stat can be read.
absl::StatusOr<Measurement> MeasureLatency(MsgClient& client, const Budget& budget);

// WINDOW requests outstanding (Send/Receive; replies must come in order):
// after each reply the next request is sent. Metrics: round_trips_per_s,
// round_trips and, if BYTES_PER_ROUND_TRIP > 0, gb_per_s (10^9 bytes/s of
// that payload).
absl::StatusOr<Measurement> MeasureWindow(MsgClient& client, int window,
                                          size_t bytes_per_round_trip, const Budget& budget);

}  // namespace bench

#endif  // TOOLS_BENCH_DRIVER_H_
