// Log events for the lines a library writes of its own (libprotobuf on a
// message it cannot parse, gRPC on a failed TLS handshake), which input from
// strangers can cause: one common::Log event per line, in the process's log
// format, as COMP, with the library's source position as src=FILE:LINE where
// the library gives one, rate limited as common::LogLimiter says (the next
// line written after some were left out carries suppressed=N).
//
//   static common::LibraryLog log("protobuf");
//   log.Write(common::LogLevel::kWarn, file, line, message);
//
// Thread-safe: libraries log from any thread.
#ifndef COMMON_LIBRARY_LOG_H_
#define COMMON_LIBRARY_LOG_H_

#include <mutex>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/log_limiter.h"

namespace common {

class LibraryLog {
 public:
  explicit LibraryLog(std::string_view comp) : comp_(comp) {}
  LibraryLog(const LibraryLog&) = delete;
  LibraryLog& operator=(const LibraryLog&) = delete;

  // Writes MESSAGE at LEVEL, from FILE (a path: only its last component is
  // kept) and LINE of the library (no src key if FILE is null), unless the
  // rate limit leaves it out. UNLIMITED lines (the last words before an
  // abort) are always written and use up no allowance.
  void Write(LogLevel level, const char* file, int line, std::string_view message,
             bool unlimited = false);

 private:
  const std::string comp_;
  std::mutex mu_;
  LogLimiter limiter_;
};

}  // namespace common

#endif  // COMMON_LIBRARY_LOG_H_
