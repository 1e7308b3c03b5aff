#include "tools/bench/sysinfo.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace bench {
namespace {

// The value of the first "KEY<spaces>: value" line of /proc/cpuinfo.
std::string CpuInfo(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, key)) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (absl::StripAsciiWhitespace(line.substr(0, colon)) != key) continue;
    return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Machine DescribeMachine() {
  Machine m;
  m.set_date(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()));
  struct utsname u;
  if (uname(&u) == 0) m.set_kernel(absl::StrCat(u.sysname, " ", u.release, " ", u.machine));
  m.set_cpu_model(CpuInfo("model name"));
  m.set_cores(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) m.set_usable_cores(CPU_COUNT(&set));
  m.set_clocksource(FirstLine("/sys/devices/system/clocksource/clocksource0/current_clocksource"));
  m.set_tcp_congestion_control(FirstLine("/proc/sys/net/ipv4/tcp_congestion_control"));
#ifdef __OPTIMIZE__
  m.set_optimized(true);
#endif
  return m;
}

}  // namespace bench
