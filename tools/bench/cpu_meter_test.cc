#include "tools/bench/cpu_meter.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace bench {
namespace {

TEST(ParseProcStat, SumsBusyIdleAndSteal) {
  absl::StatusOr<CpuTimes> t = ParseProcStat(
      "cpu  100 2 30 4000 5 6 7 80 9 10\n"
      "cpu0 50 1 15 2000 2 3 3 40 4 5\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->busy, 100u + 2 + 30 + 6 + 7);  // guest (9, 10) is inside user
  EXPECT_EQ(t->idle, 4000u + 5);
  EXPECT_EQ(t->steal, 80u);
}

TEST(ParseProcStat, TakesALineWithoutGuestFields) {
  absl::StatusOr<CpuTimes> t = ParseProcStat("cpu 1 1 1 1 1 1 1 1");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->busy, 5u);
  EXPECT_EQ(t->steal, 1u);
}

TEST(ParseProcStat, RefusesWhatIsNotTheAggregateLine) {
  for (const char* text : {"", "\n", "cpu0 1 2 3 4 5 6 7 8", "intr 1 2 3 4 5 6 7 8",
                           "cpu 1 2 3 4 5 6 7", "cpu 1 2 3 x 5 6 7 8", "cpu 1 2 3 -4 5 6 7 8",
                           "cpu 1 2 3 99999999999999999999999 5 6 7 8"}) {
    EXPECT_FALSE(ParseProcStat(text).ok()) << "'" << text << "'";
  }
}

TEST(ReadCpuTimes, ReadsThisMachine) {
  absl::StatusOr<CpuTimes> t = ReadCpuTimes();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GT(t->busy + t->idle, 0u);
}

TEST(AddCpuMetrics, DividesBusyTimeByRoundTrips) {
  const double us_per_tick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  Measurement m;
  AddCpuMetrics({100, 1000, 0}, {150, 1040, 10}, 1000, &m);
  EXPECT_DOUBLE_EQ(m.metrics().at("cpu_us"), 50 * us_per_tick / 1000);
  EXPECT_DOUBLE_EQ(m.metrics().at("steal_pct"), 10.0);  // 10 of 50 + 40 + 10 ticks
}

TEST(AddCpuMetrics, AddsNothingWithoutAdvanceOrRoundTrips) {
  Measurement m;
  AddCpuMetrics({100, 1000, 0}, {100, 1000, 0}, 1000, &m);  // no tick passed
  AddCpuMetrics({100, 1000, 0}, {150, 1040, 0}, 0, &m);     // no round trip
  AddCpuMetrics({100, 1000, 0}, {90, 1040, 0}, 10, &m);     // counters went back
  EXPECT_TRUE(m.metrics().empty());
}

}  // namespace
}  // namespace bench
