// The latency CDF plot: one panel per (scenario, group) whose cases
// recorded latency quantiles (Measurement.cdf_us), one curve per variant,
// as a standalone SVG document.
//
//   std::string svg = RenderCdfSvg(report);   // "" if nothing has a CDF
#ifndef TOOLS_BENCH_CDF_SVG_H_
#define TOOLS_BENCH_CDF_SVG_H_

#include <string>

#include "tools/bench/report.pb.h"

namespace bench {

// Each curve is the repetition whose p50 is nearest the case's median p50
// (a real run, not a blend); x is the round trip in µs on a log scale, y
// the fraction of round trips at most that long.
std::string RenderCdfSvg(const Report& report);

}  // namespace bench

#endif  // TOOLS_BENCH_CDF_SVG_H_
