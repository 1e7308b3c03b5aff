// Runs the bench binary end to end with tiny round-trip counts and checks
// that every scenario produced sane numbers: no errors, every round trip
// counted, metrics positive and finite. It asserts no timings.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tools/bench/report.pb.h"

namespace bench {
namespace {

constexpr int kRoundTrips = 100;

std::string BenchPath() {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "tools/bench/bench";
  return absl::StrCat(srcdir, "/", workspace, "/tools/bench/bench");
}

std::string TmpPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the bench with ARGS, its stdout and stderr going to files; returns
// its exit status (-1 if it did not exit normally).
int RunBench(const std::vector<std::string>& args, const std::string& out,
             const std::string& err) {
  std::vector<std::string> argv_s = {BenchPath()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Sane(double v) { return std::isfinite(v) && v > 0; }

TEST(Bench, EveryScenarioProducesSaneNumbers) {
  const std::string json = TmpPath("report.json");
  const std::string out = TmpPath("report.md");
  const std::string err = TmpPath("bench.stderr");
  const std::string svg = TmpPath("cdf.svg");
  // Round-trip caps far below what the (long) durations allow, so every
  // case stops at exactly kRoundTrips.
  const int status = RunBench({"--reps=1", absl::StrCat("--iters=", kRoundTrips),
                               "--warmup_iters=10", "--ms=60000", "--warmup_ms=60000",
                               "--timeout_s=40", "--json=" + json, "--svg=" + svg},
                              out, err);
  ASSERT_EQ(status, 0) << "stderr:\n" << ReadFile(err) << "\nstdout:\n" << ReadFile(out);

  Report report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ReadFile(json), &report).ok());
  EXPECT_FALSE(report.machine().kernel().empty());
  EXPECT_FALSE(report.machine().tcp_congestion_control().empty());
  EXPECT_GT(report.machine().cores(), 0);
  EXPECT_EQ(report.settings().reps(), 1);

  // Scenario -> the metrics each of its cases must report.
  const std::map<std::string, std::vector<std::string>> expected = {
      {"latency", {"p50_us", "p99_us", "round_trips_per_s", "round_trips"}},
      {"pipeline", {"round_trips_per_s", "round_trips"}},
      {"dma", {"gb_per_s", "round_trips_per_s", "round_trips"}},
      {"session", {"p50_us", "p99_us", "round_trips_per_s", "round_trips"}},
      {"remote", {"p50_us", "p99_us", "round_trips_per_s", "round_trips"}},
      {"remote_dma", {"gb_per_s", "round_trips_per_s", "round_trips"}},
      {"region", {"gb_per_s", "p50_us", "p99_us", "round_trips"}},
  };
  const std::map<std::string, int> case_counts = {{"latency", 8}, {"pipeline", 9}, {"dma", 6},
                                                  {"session", 6}, {"remote", 20},
                                                  {"remote_dma", 6}, {"region", 7}};
  std::set<std::string> seen;
  int cpu_measured = 0;  // cases with CPU per round trip above zero
  const std::string md = ReadFile(out);
  for (const ScenarioResult& s : report.scenarios()) {
    SCOPED_TRACE(s.name());
    seen.insert(s.name());
    ASSERT_TRUE(expected.count(s.name())) << "unexpected scenario";
    EXPECT_EQ(s.cases_size(), case_counts.at(s.name()));
    EXPECT_TRUE(absl::StrContains(md, absl::StrCat("(`", s.name(), "`)")));
    EXPECT_TRUE(absl::StrContains(md, "| CPU µs | steal % |"));
    for (const CaseResult& c : s.cases()) {
      SCOPED_TRACE(c.group() + " " + c.variant());
      EXPECT_EQ(c.error(), "");
      ASSERT_EQ(c.reps_size(), 1);
      EXPECT_TRUE(absl::StrContains(md, absl::StrCat("| ", c.group(), " | ", c.variant(), " |")));
      if (!c.skipped().empty()) {
        // Only process_vm_readv may be refused by the machine's policy, and
        // network namespaces by the sandbox.
        EXPECT_TRUE(c.variant() == "process_vm_readv" || absl::EndsWith(c.group(), " over veth"))
            << c.skipped();
        continue;
      }
      for (const std::string& metric : expected.at(s.name())) {
        ASSERT_TRUE(c.median().count(metric)) << metric;
        EXPECT_TRUE(Sane(c.median().at(metric))) << metric << " = " << c.median().at(metric);
      }
      EXPECT_EQ(c.median().at("round_trips"), kRoundTrips);
      // CPU time comes in ticks: a phase shorter than one has none to
      // count, so the metrics may be missing, or zero, but never odd.
      if (c.median().count("cpu_us")) {
        ASSERT_TRUE(c.median().count("steal_pct"));
        EXPECT_TRUE(std::isfinite(c.median().at("cpu_us")) && c.median().at("cpu_us") >= 0);
        EXPECT_TRUE(c.median().at("steal_pct") >= 0 && c.median().at("steal_pct") <= 100);
        if (c.median().at("cpu_us") > 0) cpu_measured++;
      }
      if (c.median().count("p99_us")) {
        EXPECT_GE(c.median().at("p99_us"), c.median().at("p50_us"));
        EXPECT_EQ(c.reps(0).cdf_us_size(), 19) << "latency drivers record the CDF";
      }
      for (const auto& [title, ratio] : c.ratios()) {
        if (absl::StrContains(title, "CPU")) continue;  // zero CPU makes no ratio, or zero
        EXPECT_TRUE(Sane(ratio)) << title;
      }
      EXPECT_FALSE(c.ratios().empty());
    }
    for (const BarResult& b : s.bars()) {
      SCOPED_TRACE(b.description());
      // (Bars over veth go unevaluated where the sandbox skipped them.)
      if (!b.evaluated() && absl::StrContains(b.description(), "over veth")) continue;
      EXPECT_TRUE(b.evaluated());
      EXPECT_TRUE(Sane(b.value()));
    }
  }
  // The whole run takes seconds of CPU: most cases must have seen ticks.
  EXPECT_GE(cpu_measured, 10);
  EXPECT_EQ(seen, (std::set<std::string>{"latency", "pipeline", "dma", "session", "remote",
                                          "remote_dma", "region"}));
  // The CDF plot: an SVG with a curve per latency case.
  const std::string plot = ReadFile(svg);
  EXPECT_TRUE(absl::StartsWith(plot, "<svg")) << plot.substr(0, 100);
  size_t curves = 0;
  for (size_t at = plot.find("<polyline"); at != std::string::npos;
       at = plot.find("<polyline", at + 1)) {
    curves++;
  }
  // Latency, session, remote (loopback; over veth if it ran) and region cases.
  EXPECT_GE(curves, 8u + 6u + 12u + 7u);
  EXPECT_LE(curves, 8u + 6u + 16u + 7u);
}

// --mesh_config reaches every meshd the cases start: a field meshd does not
// know fails each meshd case with meshd's own error, and only those.
TEST(Bench, MeshConfigGoesToEveryMeshd) {
  const std::string out = TmpPath("mesh_config.md"), err = TmpPath("mesh_config.stderr");
  EXPECT_EQ(RunBench({"--only=remote_dma", "--reps=1", "--iters=20", "--warmup_iters=2",
                      "--mesh_config=no_such_field: 1"},
                     out, err),
            1);
  const std::string report = ReadFile(out);
  size_t failed = 0;
  for (size_t at = report.find("no field named \"no_such_field\""); at != std::string::npos;
       at = report.find("no field named \"no_such_field\"", at + 1)) {
    failed++;
  }
  EXPECT_GE(failed, 3u) << report;  // (the veth case too, where it runs)
  EXPECT_TRUE(absl::StrContains(report, "| 128 KiB | tcp | ")) << report;
  EXPECT_FALSE(absl::StrContains(report, "| 128 KiB | tcp | failed")) << report;
}

TEST(Bench, RefusesBadFlags) {
  const std::string out = TmpPath("bad.md"), err = TmpPath("bad.stderr");
  EXPECT_EQ(RunBench({"--windows=0"}, out, err), 2);
  EXPECT_TRUE(absl::StrContains(ReadFile(err), "windows")) << ReadFile(err);
  EXPECT_EQ(RunBench({"--sizes=63"}, out, err), 2);
  EXPECT_EQ(RunBench({"--only=nonesuch"}, out, err), 2);
  EXPECT_EQ(RunBench({"--cpus=a,b"}, out, err), 2);
  EXPECT_EQ(RunBench({"--pace_us=-1"}, out, err), 2);
  EXPECT_TRUE(absl::StrContains(ReadFile(err), "pace_us")) << ReadFile(err);
}

}  // namespace
}  // namespace bench
