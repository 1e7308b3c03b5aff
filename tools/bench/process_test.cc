#include "tools/bench/process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace bench {
namespace {

ProcessOptions Options() {
  ProcessOptions o;
  o.timeout = absl::Seconds(20);
  o.stop_grace = absl::Seconds(20);
  return o;
}

// A server that serves nothing: ready, then waits for the client to exit.
absl::Status WaitForStop(ServerContext& ctx) {
  absl::Status s = ctx.Ready();
  if (!s.ok()) return s;
  char c;
  while (read(ctx.stop_fd(), &c, 1) < 0) {
  }
  return absl::OkStatus();
}

TEST(RunClientServer, ReturnsTheClientsMeasurement) {
  bool after_fork_ran = false;
  Measurement m = RunClientServer(
      WaitForStop,
      []() -> absl::StatusOr<Measurement> {
        Measurement m;
        (*m.mutable_metrics())["answer"] = 42;
        return m;
      },
      Options(), [&] { after_fork_ran = true; });
  EXPECT_TRUE(after_fork_ran);
  EXPECT_EQ(m.error(), "");
  EXPECT_EQ(m.metrics().at("answer"), 42);
}

TEST(RunClientServer, ReportsAServerThatFailsBeforeReady) {
  Measurement m = RunClientServer(
      [](ServerContext&) { return absl::InternalError("cannot bind"); },
      []() -> absl::StatusOr<Measurement> { return Measurement(); }, Options(), nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "server: INTERNAL: cannot bind")) << m.error();
}

TEST(RunClientServer, ReportsAClientError) {
  Measurement m = RunClientServer(
      WaitForStop, []() -> absl::StatusOr<Measurement> { return absl::DataLossError("bad reply"); },
      Options(), nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "bad reply")) << m.error();
}

TEST(RunClientServer, ReportsACrashedClient) {
  Measurement m = RunClientServer(
      WaitForStop, []() -> absl::StatusOr<Measurement> { abort(); }, Options(), nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "client killed by signal 6")) << m.error();
}

TEST(RunClientServer, ReportsASkip) {
  Measurement m = RunClientServer(
      WaitForStop, []() -> absl::StatusOr<Measurement> { return SkippedError("not here"); },
      Options(), nullptr);
  EXPECT_EQ(m.error(), "");
  EXPECT_EQ(m.skipped(), "not here");
}

TEST(RunClientServer, AServerFailureEndsAWaitingClient) {
  // The client would wait forever; the server's failure ends the run.
  Measurement m = RunClientServer(
      [](ServerContext& ctx) {
        absl::Status s = ctx.Ready();
        return s.ok() ? absl::DataLossError("gave up") : s;
      },
      []() -> absl::StatusOr<Measurement> {
        for (;;) pause();
      },
      Options(), nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "server: DATA_LOSS: gave up")) << m.error();
}

TEST(RunClientServer, TimesOut) {
  ProcessOptions o = Options();
  o.timeout = absl::Milliseconds(300);
  Measurement m = RunClientServer(
      WaitForStop,
      []() -> absl::StatusOr<Measurement> {
        for (;;) pause();
      },
      o, nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "timed out")) << m.error();
}

TEST(RunClientServer, KillsAServerThatDoesNotStop) {
  ProcessOptions o = Options();
  o.stop_grace = absl::Milliseconds(300);
  Measurement m = RunClientServer(
      [](ServerContext& ctx) {
        absl::Status s = ctx.Ready();
        for (;;) pause();
        return s;
      },
      []() -> absl::StatusOr<Measurement> { return Measurement(); }, o, nullptr);
  EXPECT_TRUE(absl::StrContains(m.error(), "did not stop")) << m.error();
}

TEST(SkippedError, IsRecognizedAndDistinctFromOtherErrors) {
  EXPECT_TRUE(bench::IsSkipped(SkippedError("why")));
  EXPECT_FALSE(bench::IsSkipped(absl::UnimplementedError("why")));
  EXPECT_FALSE(bench::IsSkipped(absl::OkStatus()));
}

}  // namespace
}  // namespace bench
