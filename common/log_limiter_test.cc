#include "common/log_limiter.h"

#include "gtest/gtest.h"

namespace common {
namespace {

TEST(LogLimiterTest, BurstThenRateAndCountsWhatWasLeftOut) {
  LogLimiter l;
  uint64_t suppressed = 99;
  int allowed = 0;
  for (int i = 0; i < 100; i++) {
    if (l.Allow(1000, &suppressed)) allowed++;
  }
  EXPECT_EQ(allowed, 20);
  EXPECT_EQ(suppressed, 0u);
  // 10 a second: 100 ms later, one more, reporting the 80 left out.
  EXPECT_FALSE(l.Allow(1050, &suppressed));
  ASSERT_TRUE(l.Allow(1100, &suppressed));
  EXPECT_EQ(suppressed, 81u);
  EXPECT_FALSE(l.Allow(1100, &suppressed));
}

TEST(LogLimiterTest, AClockGoingBackwardsAddsNothing) {
  LogLimiter l;
  uint64_t suppressed = 0;
  for (int i = 0; i < 20; i++) ASSERT_TRUE(l.Allow(5000, &suppressed));
  EXPECT_FALSE(l.Allow(1000, &suppressed));
  EXPECT_FALSE(l.Allow(5000, &suppressed));
  ASSERT_TRUE(l.Allow(5100, &suppressed));
  EXPECT_EQ(suppressed, 2u);
}

}  // namespace
}  // namespace common
