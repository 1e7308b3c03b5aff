#include "tools/bench/stats.h"

#include <gtest/gtest.h>

namespace bench {
namespace {

TEST(SortedPercentile, NearestRank) {
  std::vector<int64_t> s;
  for (int i = 1; i <= 100; i++) s.push_back(i);
  EXPECT_EQ(SortedPercentile(s, 50), 50);
  EXPECT_EQ(SortedPercentile(s, 99), 99);
  EXPECT_EQ(SortedPercentile(s, 100), 100);
  EXPECT_EQ(SortedPercentile(s, 0.5), 1);
}

TEST(SortedPercentile, FewSamples) {
  EXPECT_EQ(SortedPercentile({7}, 50), 7);
  EXPECT_EQ(SortedPercentile({7}, 99), 7);
  // Of 10 samples the 99th percentile is the largest.
  std::vector<int64_t> s = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1000};
  EXPECT_EQ(SortedPercentile(s, 99), 1000);
  EXPECT_EQ(SortedPercentile(s, 50), 5);
}

TEST(Median, OddAndEven) {
  EXPECT_EQ(Median({3, 1, 2}), 2);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(Median({5}), 5);
}

}  // namespace
}  // namespace bench
