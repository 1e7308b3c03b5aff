#include "common/protobuf_log.h"

#include <string>

#include "common/log_capture.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace common {
namespace {

// What a peer can send: a proto3 string field that is not UTF-8.
std::string BadUtf8StringValue() {
  return std::string("\x0a\x02\xff\xfe", 4);  // field 1, length 2, bytes ff fe
}

TEST(ProtobufLogTest, RefusedInputIsOneRateLimitedLogEvent) {
  RouteProtobufLogs();
  CapturedLog log;
  google::protobuf::StringValue v;
  EXPECT_FALSE(v.ParseFromString(BadUtf8StringValue()));
  const std::string text = log.Text();
  EXPECT_EQ(log.Count("\n"), 1) << text;
  EXPECT_NE(text.find("level=warn comp=protobuf msg="), std::string::npos) << text;
  EXPECT_NE(text.find("invalid UTF-8"), std::string::npos) << text;
  EXPECT_NE(text.find(" src=wire_format_lite.cc:"), std::string::npos) << text;

  // A flood: the burst's lines and no more, however fast the messages come.
  for (int i = 0; i < 200; i++) ASSERT_FALSE(v.ParseFromString(BadUtf8StringValue()));
  EXPECT_LE(log.Count("comp=protobuf"), 22) << log.Text();
  EXPECT_GE(log.Count("comp=protobuf"), 20) << log.Text();
}

}  // namespace
}  // namespace common
