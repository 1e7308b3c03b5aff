#include "common/log.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>

#include "absl/base/const_init.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace common {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::atomic<int> g_fd{2};
std::atomic<uint64_t> g_dropped{0};

// Serializes writers, so that a line cut short by a partial write is still
// finished before the next one starts.
ABSL_CONST_INIT absl::Mutex g_write_mu(absl::kConstInit);

constexpr size_t kMaxValueBytes = 4096;
// How long a line may wait for a full non-blocking descriptor.
constexpr int kMaxWaitMs = 1000;

std::string_view StdView(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

// Appends "2026-11-22T03:12:45.123Z" (UTC, milliseconds).
void AppendTimestamp(std::string* out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(ts.tv_nsec / 1000000));
  out->append(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// Length of the valid UTF-8 sequence at S[0], or 0 if the bytes there are
// not one (bad lead byte, bad or missing continuation, overlong form,
// surrogate, beyond U+10FFFF).
size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  }
  return len;
}

// Cuts S to kMaxValueBytes at a character boundary; sets *CUT if it did.
std::string_view Truncate(std::string_view s, bool* cut) {
  *cut = s.size() > kMaxValueBytes;
  if (!*cut) return s;
  size_t n = kMaxValueBytes;
  // s[n] is the first byte left out; if it continues a sequence, leave out
  // the sequence's start too.
  for (int i = 0; i < 3 && n > 0 &&
                  (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80;
       ++i) {
    --n;
  }
  return s.substr(0, n);
}

// True if TEXT must quote S.
bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '=' || c == '\\') {
      return true;
    }
  }
  return false;
}

// Appends S double-quoted with JSON escapes, invalid UTF-8 as U+FFFD.
void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out->append("\\\"");
        ++i;
        continue;
      case '\\':
        out->append("\\\\");
        ++i;
        continue;
      case '\n':
        out->append("\\n");
        ++i;
        continue;
      case '\r':
        out->append("\\r");
        ++i;
        continue;
      case '\t':
        out->append("\\t");
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(s.substr(i));
    if (len == 0) {
      out->append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      out->append(s.data() + i, len);
      i += len;
    }
  }
  out->push_back('"');
}

// Appends a key or comp with characters outside [A-Za-z0-9_.-] as '_'.
void AppendName(std::string_view s, std::string* out) {
  if (s.empty()) {
    out->push_back('_');
    return;
  }
  for (char c : s) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                    c == '_' || c == '.' || c == '-';
    out->push_back(ok ? c : '_');
  }
}

// Writes LINE to the log descriptor in one write(2) (more only if the
// kernel takes part of it), waiting up to kMaxWaitMs if the descriptor is
// non-blocking and full. Counts the line as dropped if it cannot finish.
void WriteLine(std::string_view line) {
  absl::MutexLock lock(&g_write_mu);
  const int fd = g_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  const int saved_errno = errno;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!line.empty()) {
    const ssize_t n = ::write(fd, line.data(), line.size());
    if (n >= 0) {
      line.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      const int64_t waited_ms = (now.tv_sec - start.tv_sec) * 1000 +
                                (now.tv_nsec - start.tv_nsec) / 1000000;
      if (waited_ms < kMaxWaitMs) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        ::poll(&pfd, 1, static_cast<int>(kMaxWaitMs - waited_ms));
        continue;
      }
    }
    g_dropped.fetch_add(1, std::memory_order_relaxed);
    break;
  }
  errno = saved_errno;
}

}  // namespace

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel GetLogLevel() {
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void SetLogFormat(LogFormat format) {
  g_format.store(static_cast<int>(format), std::memory_order_relaxed);
}

LogFormat GetLogFormat() {
  return static_cast<LogFormat>(g_format.load(std::memory_order_relaxed));
}

void SetLogFd(int fd) {
  // Under the lock, so that a line being written finishes on the old one.
  absl::MutexLock lock(&g_write_mu);
  g_fd.store(fd, std::memory_order_relaxed);
}

int GetLogFd() { return g_fd.load(std::memory_order_relaxed); }

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  const std::string lower =
      absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError}) {
    if (lower == LogLevelName(l)) {
      *level = l;
      return true;
    }
  }
  if (lower == "warning") {
    *level = LogLevel::kWarn;
    return true;
  }
  return false;
}

uint64_t LogLinesDropped() {
  return g_dropped.load(std::memory_order_relaxed);
}

Log::Log(LogLevel level, std::string_view comp, std::string_view msg)
    : enabled_(LogEnabled(level)), format_(GetLogFormat()) {
  if (!enabled_) return;
  line_.reserve(256);
  if (format_ == LogFormat::kJson) {
    line_.append("{\"ts\":\"");
    AppendTimestamp(&line_);
    line_.append("\",\"level\":\"");
    line_.append(LogLevelName(level));
    line_.append("\",\"comp\":\"");
    AppendName(comp, &line_);
    line_.append("\"");
  } else {
    line_.append("ts=");
    AppendTimestamp(&line_);
    line_.append(" level=");
    line_.append(LogLevelName(level));
    line_.append(" comp=");
    AppendName(comp, &line_);
  }
  AppendString("msg", msg);
}

Log::~Log() {
  if (!enabled_) return;
  line_.append(format_ == LogFormat::kJson ? "}\n" : "\n");
  WriteLine(line_);
}

void Log::AppendKey(std::string_view key) {
  if (format_ == LogFormat::kJson) {
    line_.append(",\"");
    AppendName(key, &line_);
    line_.append("\":");
  } else {
    line_.push_back(' ');
    AppendName(key, &line_);
    line_.push_back('=');
  }
}

void Log::AppendString(std::string_view key, std::string_view value) {
  AppendKey(key);
  bool cut;
  std::string_view v = Truncate(value, &cut);
  if (cut) {
    std::string with_marker(v);
    with_marker.append("...");
    AppendQuoted(with_marker, &line_);
  } else if (format_ == LogFormat::kJson || NeedsQuotes(v)) {
    AppendQuoted(v, &line_);
  } else {
    line_.append(v);
  }
}

void Log::AppendBare(std::string_view key, std::string_view value) {
  AppendKey(key);
  line_.append(value);
}

Log& Log::Kv(std::string_view key, const char* value) {
  if (enabled_) AppendString(key, value == nullptr ? "(null)" : value);
  return *this;
}

Log& Log::Kv(std::string_view key, const std::string& value) {
  if (enabled_) AppendString(key, value);
  return *this;
}

Log& Log::Kv(std::string_view key, std::string_view value) {
  if (enabled_) AppendString(key, value);
  return *this;
}

Log& Log::Kv(std::string_view key, absl::string_view value) {
  if (enabled_) AppendString(key, StdView(value));
  return *this;
}

Log& Log::Kv(std::string_view key, bool value) {
  if (enabled_) AppendBare(key, value ? "true" : "false");
  return *this;
}

Log& Log::Kv(std::string_view key, double value) {
  if (!enabled_) return *this;
  const std::string text = absl::StrCat(value);
  if (format_ == LogFormat::kJson && !std::isfinite(value)) {
    AppendString(key, text);  // JSON has no NaN or infinity
  } else {
    AppendBare(key, text);
  }
  return *this;
}

Log& Log::Kv(std::string_view key, Hex value) {
  if (enabled_) {
    AppendString(key, absl::StrCat("0x", absl::Hex(value.value)));
  }
  return *this;
}

Log& Log::Kv(std::string_view key, const absl::Status& value) {
  if (enabled_) {
    AppendString(
        key, value.ToString(absl::StatusToStringMode::kWithNoExtraData));
  }
  return *this;
}

Log& Log::Kv(std::string_view key, absl::Duration value) {
  if (enabled_) AppendString(key, absl::FormatDuration(value));
  return *this;
}

Log& Log::KvInt(std::string_view key, int64_t value) {
  if (enabled_) AppendBare(key, absl::StrCat(value));
  return *this;
}

Log& Log::KvUint(std::string_view key, uint64_t value) {
  if (enabled_) AppendBare(key, absl::StrCat(value));
  return *this;
}

}  // namespace common
