// Link's socket behaviour is exercised end to end in mesh_node_test.cc;
// this covers its small pure parts.
#include "meshd/mesh/link.h"

#include "gtest/gtest.h"

namespace meshd {
namespace mesh {
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

}  // namespace
}  // namespace mesh
}  // namespace meshd
