// Structured logging for meshd and the tools: one line per event, as logfmt
// (TEXT) or as one JSON object (JSON), with the same keys either way.
//
//   common::Log(common::LogLevel::kInfo, "client", "session opened")
//       .Kv("sessid", common::Hex(id))
//       .Kv("uid", uid);
//   SLOG_WARN("mesh", "link lost").Kv("peer", name).Kv("err", status);
//
// TEXT:
//   ts=2026-11-22T03:12:45.123Z level=info comp=client msg="session opened" sessid=0x1a2b uid=1000
// JSON:
//   {"ts":"2026-11-22T03:12:45.123Z","level":"info","comp":"client","msg":"session opened","sessid":"0x1a2b","uid":1000}
//
// The event is written when the Log object is destroyed: for the temporary in
// the examples, at the end of the statement. Every event is one write(2) of
// one whole line, under a process-wide lock, so lines from concurrent threads
// never interleave. Events below the level set with SetLogLevel() cost one
// atomic load; with the SLOG_* macros their Kv() arguments are not even
// evaluated.
//
// Keys: ts, level, comp and msg come first and are reserved; callers' keys
// should be short snake_case identifiers. Characters outside [A-Za-z0-9_.-]
// in a key (or comp) become '_'.
//
// Values: in TEXT, a value is written bare unless it is empty or holds a
// space, '"', '=', '\', a control character or a non-ASCII byte; then it is
// double-quoted with JSON's escapes (\" \\ \n \r \t \u00XX). In JSON, numbers
// and booleans are bare and everything else is a string. Both formats are
// valid UTF-8: invalid bytes become U+FFFD. A string value longer than 4096
// bytes is cut there (at a character boundary) and "..." appended.
//
// Not async-signal-safe: do not log from a signal handler. Writing to a
// closed pipe raises SIGPIPE unless the process ignores it (meshd does).
#ifndef COMMON_LOG_H_
#define COMMON_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace common {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat : int { kText = 0, kJson = 1 };

// Process-wide settings. Thread-safe; they apply to events begun after the
// call.

// Events below LEVEL are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// True if an event at LEVEL would be written now.
bool LogEnabled(LogLevel level);

// Default kText.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// Lines go to FD (default 2, stderr). The descriptor is not owned: it must
// stay open until another SetLogFd() call. A negative FD discards all lines.
void SetLogFd(int fd);
int GetLogFd();

// "debug", "info", "warn", "error".
std::string_view LogLevelName(LogLevel level);
// Parses a LogLevelName() (case-insensitive; "warning" is accepted for
// kWarn). Returns false, leaving *LEVEL alone, for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);

// Lines that could not be written (write error, or the descriptor stayed
// full for a second) since the process started.
uint64_t LogLinesDropped();

// A value written in hexadecimal: Hex(6699) -> 0x1a2b (a string in JSON).
struct Hex {
  explicit Hex(uint64_t v) : value(v) {}
  uint64_t value;
};

// One event. Construct it, add key/value pairs with Kv(), and it is written
// when destroyed (if its level was enabled at construction).
class Log {
 public:
  // COMP names the component ("client", "mesh", "admin"...), MSG says what
  // happened; MSG should be a fixed phrase, with the variable parts as Kv()s.
  Log(LogLevel level, std::string_view comp, std::string_view msg);
  ~Log();

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Adds KEY=VALUE. Each returns *this, for chaining. Strings are quoted and
  // escaped as needed; integers are decimal; bools true/false; doubles as
  // absl::StrCat writes them (NaN and infinities as strings in JSON); an
  // absl::Status as "OK" or "NOT_FOUND: message" (payloads left out); an
  // absl::Duration as absl::FormatDuration does ("1.5s", "250ms").
  Log& Kv(std::string_view key, const char* value);  // nullptr: "(null)"
  Log& Kv(std::string_view key, const std::string& value);
  Log& Kv(std::string_view key, std::string_view value);
  Log& Kv(std::string_view key, absl::string_view value);
  Log& Kv(std::string_view key, bool value);
  Log& Kv(std::string_view key, double value);
  Log& Kv(std::string_view key, Hex value);
  Log& Kv(std::string_view key, const absl::Status& value);
  Log& Kv(std::string_view key, absl::Duration value);
  template <typename T,
            std::enable_if_t<std::is_integral<T>::value &&
                                 !std::is_same<T, bool>::value,
                             int> = 0>
  Log& Kv(std::string_view key, T value) {
    if (std::is_signed<T>::value) {
      return KvInt(key, static_cast<int64_t>(value));
    }
    return KvUint(key, static_cast<uint64_t>(value));
  }

 private:
  Log& KvInt(std::string_view key, int64_t value);
  Log& KvUint(std::string_view key, uint64_t value);
  // Appends KEY and VALUE, VALUE as a string (quoted if needed in TEXT,
  // always in JSON) or bare (a number or boolean).
  void AppendString(std::string_view key, std::string_view value);
  void AppendBare(std::string_view key, std::string_view value);
  void AppendKey(std::string_view key);

  bool enabled_;
  LogFormat format_;
  std::string line_;
};

namespace log_internal {
// Turns `Voidify() & Log(...).Kv(...)` into a void expression for SLOG's ?:.
struct Voidify {
  void operator&(const Log&) const {}
};
}  // namespace log_internal

}  // namespace common

// SLOG(level, comp, msg) starts an event like common::Log(level, comp, msg),
// as an expression: chain .Kv() calls and end the statement. If LEVEL is
// disabled, nothing after SLOG(...) is evaluated. LEVEL is evaluated twice.
// (Not LOG_INFO and friends: <syslog.h> defines those.)
#define SLOG(level, comp, msg)                          \
  !::common::LogEnabled(level)                          \
      ? (void)0                                         \
      : ::common::log_internal::Voidify() &             \
            ::common::Log((level), (comp), (msg))
#define SLOG_DEBUG(comp, msg) SLOG(::common::LogLevel::kDebug, comp, msg)
#define SLOG_INFO(comp, msg) SLOG(::common::LogLevel::kInfo, comp, msg)
#define SLOG_WARN(comp, msg) SLOG(::common::LogLevel::kWarn, comp, msg)
#define SLOG_ERROR(comp, msg) SLOG(::common::LogLevel::kError, comp, msg)

#endif  // COMMON_LOG_H_
