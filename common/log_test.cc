#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace common {
namespace {

// True if TS looks like 2026-11-22T03:12:45.123Z.
bool IsTimestamp(std::string_view ts) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (ts.size() != kShape.size()) return false;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (kShape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(ts[i]))
                         : ts[i] != kShape[i]) {
      return false;
    }
  }
  return true;
}

// Sends the log into a pipe for each test, and restores the defaults after.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    read_end_.reset(fds[0]);
    write_end_.reset(fds[1]);
    ASSERT_EQ(fcntl(read_end_.get(), F_SETFL, O_NONBLOCK), 0);
    SetLogFd(write_end_.get());
    SetLogLevel(LogLevel::kInfo);
    SetLogFormat(LogFormat::kText);
  }

  void TearDown() override {
    SetLogFd(2);
    SetLogLevel(LogLevel::kInfo);
    SetLogFormat(LogFormat::kText);
  }

  // Everything written so far (the writes have all completed: the log
  // writes synchronously).
  std::string Drain() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(read_end_.get(), buf, sizeof buf)) > 0) out.append(buf, n);
    return out;
  }

  // The one line written so far, without its timestamp and newline, after
  // checking both. TEXT: "level=... comp=..."; JSON: "{"level":...}".
  std::string OneLine() {
    std::string out = Drain();
    EXPECT_FALSE(out.empty());
    if (out.empty()) return "";
    EXPECT_EQ(out.back(), '\n');
    out.pop_back();
    EXPECT_EQ(out.find('\n'), std::string::npos) << out;
    if (GetLogFormat() == LogFormat::kJson) {
      const std::string prefix = "{\"ts\":\"";
      EXPECT_EQ(out.compare(0, prefix.size(), prefix), 0) << out;
      EXPECT_TRUE(IsTimestamp(out.substr(prefix.size(), 24))) << out;
      EXPECT_EQ(out.compare(prefix.size() + 24, 2, "\","), 0) << out;
      return "{" + out.substr(prefix.size() + 26);
    }
    EXPECT_EQ(out.compare(0, 3, "ts="), 0) << out;
    EXPECT_TRUE(IsTimestamp(out.substr(3, 24))) << out;
    EXPECT_EQ(out[27], ' ') << out;
    return out.substr(28);
  }

  UniqueFd read_end_;
  UniqueFd write_end_;
};

TEST_F(LogTest, TextLine) {
  Log(LogLevel::kInfo, "client", "session opened")
      .Kv("sessid", Hex(0x1a2b))
      .Kv("uid", 1000);
  EXPECT_EQ(OneLine(),
            "level=info comp=client msg=\"session opened\" sessid=0x1a2b "
            "uid=1000");
}

TEST_F(LogTest, JsonLine) {
  SetLogFormat(LogFormat::kJson);
  Log(LogLevel::kWarn, "client", "session opened")
      .Kv("sessid", Hex(0x1a2b))
      .Kv("uid", 1000)
      .Kv("ok", true);
  EXPECT_EQ(OneLine(),
            "{\"level\":\"warn\",\"comp\":\"client\",\"msg\":\"session "
            "opened\",\"sessid\":\"0x1a2b\",\"uid\":1000,\"ok\":true}");
}

TEST_F(LogTest, ValueKinds) {
  const std::string s = "str";
  Log(LogLevel::kError, "c", "kinds")
      .Kv("i", -42)
      .Kv("u64", std::numeric_limits<uint64_t>::max())
      .Kv("i64", std::numeric_limits<int64_t>::min())
      .Kv("u8", static_cast<uint8_t>(200))
      .Kv("b", false)
      .Kv("d", 1.5)
      .Kv("cs", "c-string")
      .Kv("s", s)
      .Kv("sv", std::string_view("view"))
      .Kv("asv", absl::string_view("aview"))
      .Kv("null", static_cast<const char*>(nullptr))
      .Kv("ok", absl::OkStatus())
      .Kv("err", absl::NotFoundError("no such node"))
      .Kv("dur", absl::Milliseconds(1500))
      .Kv("h", Hex(0));
  EXPECT_EQ(OneLine(),
            "level=error comp=c msg=kinds i=-42 u64=18446744073709551615 "
            "i64=-9223372036854775808 u8=200 b=false d=1.5 cs=c-string s=str "
            "sv=view asv=aview null=(null) ok=OK "
            "err=\"NOT_FOUND: no such node\" dur=1.5s h=0x0");
}

TEST_F(LogTest, StatusPayloadsLeftOut) {
  absl::Status st = absl::UnavailableError("down");
  st.SetPayload("type.example/x", absl::Cord("secret"));
  Log(LogLevel::kInfo, "c", "m").Kv("err", st);
  EXPECT_EQ(OneLine(), "level=info comp=c msg=m err=\"UNAVAILABLE: down\"");
}

TEST_F(LogTest, TextQuotingAndEscaping) {
  Log(LogLevel::kInfo, "c", "m")
      .Kv("empty", "")
      .Kv("space", "a b")
      .Kv("quote", "say \"hi\"")
      .Kv("eq", "a=b")
      .Kv("bs", "C:\\x")
      .Kv("nl", "line1\nline2\r\t")
      .Kv("ctl", std::string("\x01\x7f", 2))
      .Kv("utf8", "h\xC3\xA9llo")
      .Kv("bad", "a\xFF" "b\xC3")
      .Kv("plain", "/run/meshd/meshd.sock");
  EXPECT_EQ(OneLine(),
            "level=info comp=c msg=m empty=\"\" space=\"a b\" "
            "quote=\"say \\\"hi\\\"\" eq=\"a=b\" bs=\"C:\\\\x\" "
            "nl=\"line1\\nline2\\r\\t\" ctl=\"\\u0001\\u007f\" "
            "utf8=\"h\xC3\xA9llo\" bad=\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\" plain=/run/meshd/meshd.sock");
}

TEST_F(LogTest, KeysAndCompSanitized) {
  Log(LogLevel::kInfo, "my comp", "m").Kv("bad key=", 1).Kv("", 2);
  EXPECT_EQ(OneLine(), "level=info comp=my_comp msg=m bad_key_=1 _=2");
}

TEST_F(LogTest, LongValuesTruncatedAtCharacterBoundary) {
  // 4095 ASCII bytes, then a 2-byte character straddling the 4096 limit.
  std::string value(4095, 'x');
  value += "\xC3\xA9tail";
  Log(LogLevel::kInfo, "c", "m").Kv("v", value);
  EXPECT_EQ(OneLine(), "level=info comp=c msg=m v=\"" +
                           std::string(4095, 'x') + "...\"");
}

TEST_F(LogTest, LevelFilter) {
  Log(LogLevel::kDebug, "c", "hidden").Kv("k", 1);
  EXPECT_EQ(Drain(), "");
  SetLogLevel(LogLevel::kError);
  EXPECT_FALSE(LogEnabled(LogLevel::kWarn));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  Log(LogLevel::kWarn, "c", "hidden");
  EXPECT_EQ(Drain(), "");
  SetLogLevel(LogLevel::kDebug);
  Log(LogLevel::kDebug, "c", "shown");
  EXPECT_EQ(OneLine(), "level=debug comp=c msg=shown");
}

TEST_F(LogTest, MacrosSkipArgumentsWhenDisabled) {
  int evaluated = 0;
  auto value = [&evaluated] { return ++evaluated; };
  SLOG_DEBUG("c", "hidden").Kv("v", value());
  EXPECT_EQ(evaluated, 0);
  EXPECT_EQ(Drain(), "");
  SLOG_INFO("c", "shown").Kv("v", value());
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(OneLine(), "level=info comp=c msg=shown v=1");
}

TEST_F(LogTest, MacroIsAnExpressionInUnbracedIfElse) {
  for (bool flag : {true, false}) {
    if (flag)
      SLOG_WARN("c", "yes");
    else
      SLOG_ERROR("c", "no").Kv("flag", flag);
  }
  const std::string out = Drain();
  EXPECT_NE(out.find(" level=warn comp=c msg=yes\n"), std::string::npos);
  EXPECT_NE(out.find(" level=error comp=c msg=no flag=false\n"),
            std::string::npos);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
}

TEST_F(LogTest, NegativeFdDiscards) {
  SetLogFd(-1);
  Log(LogLevel::kError, "c", "nowhere");
  SetLogFd(write_end_.get());
  EXPECT_EQ(Drain(), "");
}

TEST_F(LogTest, LevelNames) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("DEBUG", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_EQ(LogLevelName(LogLevel::kInfo), "info");
}

// Every JSON line is valid JSON, and means what was logged: protobuf's JSON
// parser reads it into the same Struct as a hand-written equivalent. (Both
// sides are parsed and compared inside libprotobuf: protobuf's inline Map
// code, built with -fsanitize=thread, does not agree with the system
// library, so the test does not touch Struct's map itself.)
TEST_F(LogTest, JsonParses) {
  SetLogFormat(LogFormat::kJson);
  Log(LogLevel::kInfo, "c", "tricky \"msg\"\n")
      .Kv("bad", "a\xFF")
      .Kv("ctl", std::string("\x00\x1f", 2))
      .Kv("n", 3)
      .Kv("nan", std::nan(""))
      .Kv("inf", -HUGE_VAL)
      .Kv("d", 0.25);
  const std::string line = OneLine();  // without "ts"
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok())
      << line;
  google::protobuf::Struct expected;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"level": "info", "comp": "c", "msg": "tricky \"msg\"\n",
                      "bad": "a\ufffd", "ctl": "\u0000\u001f", "n": 3,
                      "nan": "nan", "inf": "-inf", "d": 0.25})",
                  &expected)
                  .ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed,
                                                                 expected))
      << line;
}

// Lines from many threads arrive whole. A reader thread keeps the pipe from
// filling up; the writers' end is closed once they are done, so the reader
// sees end-of-file.
TEST_F(LogTest, ConcurrentLinesDoNotInterleave) {
  constexpr int kThreads = 8;
  constexpr int kLines = 500;
  ASSERT_EQ(fcntl(read_end_.get(), F_SETFL, 0), 0);  // blocking reads
  std::string all;
  std::thread reader([this, &all] {
    char buf[65536];
    ssize_t n;
    while ((n = read(read_end_.get(), buf, sizeof buf)) > 0) all.append(buf, n);
  });
  std::vector<std::thread> writers;
  const std::string padding(300, 'p');  // lines of ~400 bytes
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t, &padding] {
      for (int i = 0; i < kLines; ++i) {
        Log(LogLevel::kInfo, "t", "line").Kv("t", t).Kv("i", i).Kv("pad",
                                                                   padding);
      }
    });
  }
  for (auto& w : writers) w.join();
  SetLogFd(2);
  write_end_.reset();
  reader.join();

  std::vector<std::string> lines = absl::StrSplit(all, '\n');
  ASSERT_EQ(lines.back(), "");
  lines.pop_back();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    const std::string rest = line.substr(28);
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(rest.c_str(), "level=info comp=t msg=line t=%d i=%d",
                          &t, &i),
              2)
        << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(i, next[t]++) << "lines of one thread stay in order";
    EXPECT_EQ(rest, absl::StrCat("level=info comp=t msg=line t=", t,
                                 " i=", i, " pad=", padding));
  }
}

}  // namespace
}  // namespace common
