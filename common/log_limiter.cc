#include "common/log_limiter.h"

namespace common {

bool LogLimiter::Allow(uint64_t now_ms, uint64_t* suppressed) {
  if (now_ms > last_ms_) {
    tokens_ += static_cast<double>(now_ms - last_ms_) * kPerSecond / 1000.0;
    if (tokens_ > kBurst) tokens_ = kBurst;
    last_ms_ = now_ms;
  }
  if (tokens_ < 1) {
    suppressed_++;
    return false;
  }
  tokens_ -= 1;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace common
