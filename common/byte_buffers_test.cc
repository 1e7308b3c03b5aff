#include "common/byte_buffers.h"

#include <gtest/gtest.h>

namespace common {
namespace {

TEST(ByteBuffers, ReusesLargeBuffersWithoutRefilling) {
  std::string a = TakeBuffer(200000);
  ASSERT_EQ(a.size(), 200000u);
  a.assign(200000, 'x');
  const char* p = a.data();
  GiveBuffer(std::move(a));
  // A smaller request gets the same memory, as it was: not zero-filled.
  std::string b = TakeBuffer(150000);
  EXPECT_EQ(b.size(), 150000u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b[149999], 'x');
  // Too large for anything pooled: a fresh one.
  GiveBuffer(std::move(b));
  std::string c = TakeBuffer(300000);
  EXPECT_EQ(c.size(), 300000u);
  EXPECT_NE(c.data(), p);
}

TEST(ByteBuffers, SmallOnesAndOverflowAreDropped) {
  for (size_t i = 0; i < kMaxPooled; i++) TakeBuffer(kMinPooledBytes);  // empty the pool
  GiveBuffer(std::string(100, 'y'));
  std::string s = TakeBuffer(100);
  EXPECT_EQ(s, std::string(100, '\0'));  // small: always fresh
  for (size_t i = 0; i < 2 * kMaxPooled; i++) GiveBuffer(std::string(kMinPooledBytes, 'z'));
  size_t reused = 0;
  std::vector<std::string> taken;
  for (size_t i = 0; i < 2 * kMaxPooled; i++) {
    taken.push_back(TakeBuffer(kMinPooledBytes));
    if (taken.back()[0] == 'z') reused++;
  }
  EXPECT_EQ(reused, kMaxPooled);
}

}  // namespace
}  // namespace common
