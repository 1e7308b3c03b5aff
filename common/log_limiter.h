// A rate limit for log lines that strangers can cause (a peer that fails its
// handshake, a malformed message from anyone able to connect): a burst of
// kBurst (20), then kPerSecond (10) a second; the next line written says how
// many were left out.
//
//   uint64_t suppressed;
//   if (limiter.Allow(now_ms, &suppressed)) {
//     SLOG_WARN("mesh", "handshake failed").Kv("suppressed", suppressed);
//   }
//
// Not thread-safe: one owner (an event loop), or a lock around Allow().
#ifndef COMMON_LOG_LIMITER_H_
#define COMMON_LOG_LIMITER_H_

#include <cstdint>

namespace common {

class LogLimiter {
 public:
  static constexpr int kBurst = 20;      // lines allowed at once
  static constexpr int kPerSecond = 10;  // and then, at most, each second

  // True if a line may be written at NOW_MS (any monotonic clock in
  // milliseconds; a clock going backwards adds no tokens); *SUPPRESSED is
  // then set to the number of lines left out since the last one allowed.
  // False (and *SUPPRESSED untouched) if the line is to be left out.
  bool Allow(uint64_t now_ms, uint64_t* suppressed);

 private:
  double tokens_ = kBurst;
  uint64_t last_ms_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace common

#endif  // COMMON_LOG_LIMITER_H_
