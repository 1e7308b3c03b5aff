// The whole machine's CPU time over a measured phase, from /proc/stat: what
// one round trip costs in CPU, however the work is spread over processes,
// daemons and the kernel's softirqs, and how much of the machine the
// hypervisor took meanwhile (steal). On a noisy shared VM the CPU per round
// trip moves far less than wall-clock rates do.
//
//   absl::StatusOr<CpuTimes> before = ReadCpuTimes();
//   ... the measured phase: N round trips ...
//   absl::StatusOr<CpuTimes> after = ReadCpuTimes();
//   if (before.ok() && after.ok()) AddCpuMetrics(*before, *after, N, &measurement);
//
// The kernel counts in ticks (USER_HZ, usually 100 a second per CPU), so a
// phase of one second on two CPUs resolves about 0.5 % of its CPU time.
#ifndef TOOLS_BENCH_CPU_METER_H_
#define TOOLS_BENCH_CPU_METER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/bench/report.pb.h"

namespace bench {

// Ticks summed over all CPUs since boot.
struct CpuTimes {
  uint64_t busy = 0;   // user + nice + system + irq + softirq (guest is inside user)
  uint64_t idle = 0;   // idle + iowait
  uint64_t steal = 0;  // taken by the hypervisor
};

// Parses the aggregate "cpu" line that starts TEXT (the format of
// /proc/stat, proc(5)): at least the eight fields up to steal, each a
// decimal count. Kernels before 2.6.11 have no steal field and are
// refused. Returns InvalidArgument for anything else.
absl::StatusOr<CpuTimes> ParseProcStat(absl::string_view text);

// Reads and parses /proc/stat.
absl::StatusOr<CpuTimes> ReadCpuTimes();

// Adds to *M, for the phase between BEFORE and AFTER in which ROUND_TRIPS
// (> 0) completed: "cpu_us", the machine's busy CPU microseconds per round
// trip, and "steal_pct", the percentage of the machine's CPU time stolen.
// Adds nothing if the counters did not advance (AFTER not later than BEFORE)
// or ROUND_TRIPS is not positive.
void AddCpuMetrics(const CpuTimes& before, const CpuTimes& after, double round_trips,
                   Measurement* m);

}  // namespace bench

#endif  // TOOLS_BENCH_CPU_METER_H_
