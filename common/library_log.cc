#include "common/library_log.h"

#include <time.h>

#include <cstdint>

namespace common {
namespace {

uint64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

void LibraryLog::Write(LogLevel level, const char* file, int line, std::string_view message,
                       bool unlimited) {
  if (!LogEnabled(level)) return;
  uint64_t suppressed = 0;
  if (!unlimited) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!limiter_.Allow(NowMs(), &suppressed)) return;
  }
  // A library's line may end in a newline of its own: one line per event.
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  Log event(level, comp_, message);
  if (file != nullptr) {
    std::string_view where = file;
    if (const size_t slash = where.rfind('/'); slash != std::string_view::npos) {
      where.remove_prefix(slash + 1);
    }
    event.Kv("src", std::string(where) + ":" + std::to_string(line));
  }
  if (suppressed > 0) event.Kv("suppressed", suppressed);
}

}  // namespace common
