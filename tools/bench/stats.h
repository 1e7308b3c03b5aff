// Order statistics for the bench: percentiles of latency samples and
// medians across repetitions.
//
//   std::vector<int64_t> ns = ...;          // one sample per round trip
//   std::sort(ns.begin(), ns.end());
//   double p99 = SortedPercentile(ns, 99);  // a sample value, in ns
//   double m = Median({3.0, 1.0, 2.0});     // 2.0
#ifndef TOOLS_BENCH_STATS_H_
#define TOOLS_BENCH_STATS_H_

#include <cstdint>
#include <vector>

namespace bench {

// The nearest-rank PCT-th percentile (0 < PCT <= 100) of SORTED, which must
// be sorted ascending and not empty: the smallest sample such that at least
// PCT percent of the samples are less than or equal to it.
double SortedPercentile(const std::vector<int64_t>& sorted, double pct);

// The median of VALUES (the mean of the middle two for an even count).
// VALUES must not be empty.
double Median(std::vector<double> values);

}  // namespace bench

#endif  // TOOLS_BENCH_STATS_H_
