#include "common/library_log.h"

#include <string>

#include "common/log.h"
#include "common/log_capture.h"
#include "gtest/gtest.h"

namespace common {
namespace {

TEST(LibraryLogTest, OneEventPerLineWithItsSource) {
  CapturedLog log;
  LibraryLog lib("somelib");
  lib.Write(LogLevel::kWarn, "/build/src/core/parser.cc", 42, "bad input\n");
  EXPECT_EQ(log.Count("\n"), 1) << log.Text();
  EXPECT_NE(log.Text().find("level=warn comp=somelib msg=\"bad input\" src=parser.cc:42"),
            std::string::npos)
      << log.Text();
  lib.Write(LogLevel::kInfo, nullptr, 0, "no file");
  EXPECT_NE(log.Text().find("msg=\"no file\"\n"), std::string::npos) << log.Text();
}

TEST(LibraryLogTest, AFloodIsLimitedButUnlimitedLinesGetThrough) {
  CapturedLog log;
  LibraryLog lib("somelib");
  for (int i = 0; i < 500; i++) lib.Write(LogLevel::kWarn, "f.cc", 1, "again");
  const int written = log.Count("msg=again");
  EXPECT_GE(written, 20);
  EXPECT_LE(written, 22);  // the burst, and what 10 a second adds meanwhile
  lib.Write(LogLevel::kError, "f.cc", 2, "last words", /*unlimited=*/true);
  EXPECT_EQ(log.Count("msg=\"last words\""), 1) << log.Text();
}

TEST(LibraryLogTest, LinesBelowTheLevelCostNoAllowance) {
  CapturedLog log;
  const LogLevel old = GetLogLevel();
  SetLogLevel(LogLevel::kWarn);
  LibraryLog lib("somelib");
  for (int i = 0; i < 100; i++) lib.Write(LogLevel::kInfo, "f.cc", 1, "chatter");
  lib.Write(LogLevel::kWarn, "f.cc", 1, "matters");
  SetLogLevel(old);
  EXPECT_EQ(log.Count("chatter"), 0);
  EXPECT_EQ(log.Count("msg=matters"), 1) << log.Text();
  EXPECT_EQ(log.Count("suppressed"), 0) << log.Text();
}

}  // namespace
}  // namespace common
