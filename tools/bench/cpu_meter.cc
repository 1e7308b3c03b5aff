#include "tools/bench/cpu_meter.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace bench {

absl::StatusOr<CpuTimes> ParseProcStat(absl::string_view text) {
  const absl::string_view line = text.substr(0, text.find('\n'));
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (fields.empty() || fields[0] != "cpu") {
    return absl::InvalidArgumentError("/proc/stat does not start with the aggregate cpu line");
  }
  // user nice system idle iowait irq softirq steal [guest guest_nice]
  constexpr size_t kNeeded = 8;
  if (fields.size() < 1 + kNeeded) {
    return absl::InvalidArgumentError("/proc/stat's cpu line has no steal field");
  }
  uint64_t v[kNeeded];
  for (size_t i = 0; i < kNeeded; i++) {
    if (!absl::SimpleAtoi(fields[1 + i], &v[i])) {
      return absl::InvalidArgumentError("/proc/stat's cpu line has a field that is not a count");
    }
  }
  CpuTimes t;
  t.busy = v[0] + v[1] + v[2] + v[5] + v[6];
  t.idle = v[3] + v[4];
  t.steal = v[7];
  return t;
}

absl::StatusOr<CpuTimes> ReadCpuTimes() {
  std::ifstream in("/proc/stat");
  if (!in) return absl::UnavailableError("cannot read /proc/stat");
  std::string line;
  std::getline(in, line);
  return ParseProcStat(line);
}

void AddCpuMetrics(const CpuTimes& before, const CpuTimes& after, double round_trips,
                   Measurement* m) {
  if (round_trips <= 0 || after.busy < before.busy || after.idle < before.idle ||
      after.steal < before.steal) {
    return;
  }
  const double busy = static_cast<double>(after.busy - before.busy);
  const double all = busy + static_cast<double>(after.idle - before.idle) +
                     static_cast<double>(after.steal - before.steal);
  if (all <= 0) return;
  static const double kUsPerTick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  auto& metrics = *m->mutable_metrics();
  metrics["cpu_us"] = busy * kUsPerTick / round_trips;
  metrics["steal_pct"] = static_cast<double>(after.steal - before.steal) * 100 / all;
}

}  // namespace bench
