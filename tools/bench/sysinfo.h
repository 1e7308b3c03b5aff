// What machine the bench runs on, for the top of the report.
#ifndef TOOLS_BENCH_SYSINFO_H_
#define TOOLS_BENCH_SYSINFO_H_

#include "tools/bench/report.pb.h"

namespace bench {

// The date, kernel, CPU model, core counts, clocksource, TCP congestion
// control and whether this binary was optimized. Fields that cannot be read are left empty or 0.
Machine DescribeMachine();

}  // namespace bench

#endif  // TOOLS_BENCH_SYSINFO_H_
