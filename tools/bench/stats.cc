#include "tools/bench/stats.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace bench {

double SortedPercentile(const std::vector<int64_t>& sorted, double pct) {
  assert(!sorted.empty() && pct > 0 && pct <= 100);
  const size_t n = sorted.size();
  // Rank in 1..n: ceil(pct / 100 * n).
  size_t rank = static_cast<size_t>(std::ceil(pct / 100.0 * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return static_cast<double>(sorted[rank - 1]);
}

double Median(std::vector<double> values) {
  assert(!values.empty());
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  if (values.size() % 2 == 1) return values[mid];
  const double upper = values[mid];
  const double lower = *std::max_element(values.begin(), values.begin() + mid);
  return (lower + upper) / 2;
}

}  // namespace bench
