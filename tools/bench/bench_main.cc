// bench: syslink mesh's benchmark. One command runs every scenario, each
// case beside its peers in the same run, and prints a markdown report
// (`--json FILE` writes the same results as JSON). See README.md.
//
// Exit status: 0 when every case ran (skips allowed), 1 when a case failed
// or the JSON could not be written, 2 on bad flags.
#include <sched.h>
#include <stdio.h>

#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/bench/cdf_svg.h"
#include "tools/bench/local_scenarios.h"
#include "tools/bench/mesh_scenarios.h"
#include "tools/bench/mesh_transport.h"
#include "tools/bench/report.h"
#include "tools/bench/runner.h"
#include "tools/bench/scenario.h"
#include "tools/bench/sysinfo.h"

ABSL_FLAG(int, reps, 0, "repetitions of every case; the median is reported (default 5, 3 with --quick)");
ABSL_FLAG(int, ms, 0, "measured milliseconds per case and repetition (default 1000, 100 with --quick)");
ABSL_FLAG(int, warmup_ms, -1,
          "discarded warm-up milliseconds before each measurement (default 200, 20 with --quick)");
ABSL_FLAG(int64_t, iters, 0, "at most this many measured round trips per case and repetition (0: no cap)");
ABSL_FLAG(int64_t, warmup_iters, 0, "at most this many warm-up round trips (0: no cap)");
ABSL_FLAG(int64_t, pace_us, 0,
          "latency cases: start a round trip at most every this many microseconds, sleeping "
          "between them (sparse traffic; 0: back to back)");
ABSL_FLAG(bool, quick, false, "a smoke run of about 10 s: fewer repetitions, shorter cases");
ABSL_FLAG(std::string, cpus, "",
          "pin the server and client processes: \"S,C\" (or one CPU for both); default unpinned");
ABSL_FLAG(std::string, json, "", "also write the results as JSON to this file");
ABSL_FLAG(std::string, svg, "", "also write the latency CDFs as an SVG plot to this file");
ABSL_FLAG(std::string, from_json, "",
          "run nothing: render the report (and --svg) of an earlier run's --json file");
ABSL_FLAG(std::vector<std::string>, only, {},
          "run only these scenarios (latency,pipeline,dma,session,remote,remote_dma,region)");
ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"64", "4096"}),
          "latency: message sizes in bytes, whole messages");
ABSL_FLAG(std::vector<std::string>, windows, std::vector<std::string>({"1", "16", "64"}),
          "pipeline: requests outstanding");
ABSL_FLAG(int, dma_window, 8, "dma: commands outstanding");
ABSL_FLAG(std::string, mesh_config, "",
          "added to the mesh { } section of every meshd started (e.g. "
          "\"max_session_inflight_bytes: 4194304\"); not a field the bench sets itself "
          "(heartbeat_interval_ms, dead_interval_ms, listen_address, peers, "
          "cluster_key_file; busy_poll_us in the no-polling rows)");
ABSL_FLAG(int, timeout_s, 0,
          "fail a case repetition that takes longer (default: twice its budget + 30 s)");

namespace bench {
namespace {


// Parses "a,b,c" numbers into OUT; false on a malformed one.
template <typename T>
bool ParseList(const std::vector<std::string>& in, std::vector<T>* out) {
  out->clear();
  for (const std::string& s : in) {
    int64_t v;
    if (!absl::SimpleAtoi(s, &v) || v < 0) return false;
    out->push_back(static_cast<T>(v));
  }
  return true;
}

// Parses --cpus into OPTIONS. Returns an error message or "".
std::string ParseCpus(const std::string& flag, ProcessOptions* options) {
  if (flag.empty()) return "";
  std::vector<int> cpus;
  if (!ParseList(absl::StrSplit(flag, ','), &cpus) || cpus.empty() || cpus.size() > 2) {
    return "--cpus: expected \"S,C\" or one CPU";
  }
  for (int c : cpus) {
    if (c >= CPU_SETSIZE) return "--cpus: CPU number too large";
  }
  options->server_cpu = cpus[0];
  options->client_cpu = cpus.back();
  return "";
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "syslink mesh benchmark: runs every scenario and prints a markdown report.\n"
      "  bench [--quick] [--reps=N] [--ms=N] [--cpus=S,C] [--json=FILE] [--only=latency,...]");
  absl::ParseCommandLine(argc, argv);
  const bool quick = absl::GetFlag(FLAGS_quick);

  RunOptions run;
  run.reps = absl::GetFlag(FLAGS_reps) > 0 ? absl::GetFlag(FLAGS_reps) : quick ? 3 : 5;
  const int ms = absl::GetFlag(FLAGS_ms) > 0 ? absl::GetFlag(FLAGS_ms) : quick ? 100 : 1000;
  const int warmup_ms =
      absl::GetFlag(FLAGS_warmup_ms) >= 0 ? absl::GetFlag(FLAGS_warmup_ms) : quick ? 20 : 200;
  const int64_t iters = absl::GetFlag(FLAGS_iters);
  const int64_t warmup_iters = absl::GetFlag(FLAGS_warmup_iters);
  if (absl::GetFlag(FLAGS_reps) < 0 || run.reps > 1000 || absl::GetFlag(FLAGS_ms) < 0 ||
      ms > 3'600'000 || warmup_ms > 3'600'000 || iters < 0 || warmup_iters < 0 ||
      absl::GetFlag(FLAGS_pace_us) < 0 || absl::GetFlag(FLAGS_pace_us) > 1'000'000 ||
      absl::GetFlag(FLAGS_timeout_s) < 0) {
    fprintf(stderr,
            "bench: --reps must be in [1, 1000], --ms and --warmup_ms at most 3600000, and "
            "--iters, --warmup_iters, --timeout_s not negative, --pace_us in [0, 1000000]\n");
    return 2;
  }
  const absl::Duration pace = absl::Microseconds(absl::GetFlag(FLAGS_pace_us));
  run.context.budget.warmup = {absl::Milliseconds(warmup_ms), warmup_iters, pace};
  run.context.budget.measure = {absl::Milliseconds(ms), iters, pace};
  const int timeout_s = absl::GetFlag(FLAGS_timeout_s);
  run.context.process.timeout = timeout_s > 0 ? absl::Seconds(timeout_s)
                                              : 2 * absl::Milliseconds(ms + warmup_ms) + absl::Seconds(30);
  const std::string cpu_error = ParseCpus(absl::GetFlag(FLAGS_cpus), &run.context.process);
  if (!cpu_error.empty()) {
    fprintf(stderr, "bench: %s\n", cpu_error.c_str());
    return 2;
  }

  LocalParams local;
  local.dma_window = absl::GetFlag(FLAGS_dma_window);
  if (!ParseList(absl::GetFlag(FLAGS_sizes), &local.latency_bytes) ||
      !ParseList(absl::GetFlag(FLAGS_windows), &local.windows)) {
    fprintf(stderr, "bench: --sizes and --windows take comma-separated numbers\n");
    return 2;
  }
  if (absl::Status s = ValidateLocalParams(local); !s.ok()) {
    fprintf(stderr, "bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  // The scenarios of this run: on one machine, then through meshd.
  Registry registry;
  RegisterLocalScenarios(local, &registry);
  MeshParams mesh;
  mesh.latency_bytes = local.latency_bytes;
  mesh.dma_bytes = local.dma_bytes;
  mesh.dma_window = local.dma_window;
  SetExtraMeshConfig(absl::GetFlag(FLAGS_mesh_config));
  RegisterMeshScenarios(mesh, &registry);

  std::set<std::string> only;
  for (const std::string& name : absl::GetFlag(FLAGS_only)) {
    bool known = false;
    for (const Scenario& s : registry.scenarios()) known |= s.name == name;
    if (!known) {
      fprintf(stderr, "bench: --only: no scenario \"%s\"\n", name.c_str());
      return 2;
    }
    only.insert(name);
  }

  Report report;
  *report.mutable_machine() = DescribeMachine();
  if (!report.machine().optimized()) {
    fprintf(stderr, "bench: warning: not built with optimization; use `bazel run -c opt`\n");
  }
  Settings& settings = *report.mutable_settings();
  settings.set_reps(run.reps);
  settings.set_measure_ms(ms);
  settings.set_warmup_ms(warmup_ms);
  settings.set_max_round_trips(iters);
  settings.set_max_warmup_round_trips(warmup_iters);
  settings.set_cpus(absl::GetFlag(FLAGS_cpus));
  settings.set_pace_us(absl::GetFlag(FLAGS_pace_us));

  run.progress = [&run](const Scenario& s, const Case& c, int rep, const Measurement& m) {
    std::string what;
    if (!m.error().empty()) {
      what = "FAILED: " + m.error();
    } else if (!m.skipped().empty()) {
      what = "skipped: " + m.skipped();
    } else {
      auto v = m.metrics().find(s.key_metric);
      what = v == m.metrics().end() ? "ok" : absl::StrFormat("%s %.3g", s.key_metric, v->second);
    }
    fprintf(stderr, "[%s %d/%d] %s %s: %s\n", s.name.c_str(), rep + 1, run.reps, c.group.c_str(),
            c.variant.c_str(), what.c_str());
  };

  bool failed = false;
  if (const std::string from = absl::GetFlag(FLAGS_from_json); !from.empty()) {
    std::ifstream in(from);
    std::stringstream text;
    text << in.rdbuf();
    report.Clear();
    if (!in || !google::protobuf::util::JsonStringToMessage(text.str(), &report).ok()) {
      fprintf(stderr, "bench: %s is not a bench --json report\n", from.c_str());
      return 2;
    }
  } else {
    for (const Scenario& s : registry.scenarios()) {
      if (!only.empty() && only.count(s.name) == 0) continue;
      ScenarioResult r = RunScenario(s, run);
      for (const CaseResult& c : r.cases()) failed |= !c.error().empty();
      *report.add_scenarios() = std::move(r);
    }
  }

  const std::string md = RenderMarkdown(report, registry.scenarios());
  fwrite(md.data(), 1, md.size(), stdout);
  fflush(stdout);
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    absl::StatusOr<std::string> json = RenderJson(report);
    std::ofstream out(json_path, std::ios::trunc);
    if (json.ok()) out << *json << "\n";
    out.close();
    if (!json.ok() || !out) {
      fprintf(stderr, "bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  const std::string svg_path = absl::GetFlag(FLAGS_svg);
  if (!svg_path.empty()) {
    std::ofstream out(svg_path, std::ios::trunc);
    out << RenderCdfSvg(report);
    out.close();
    if (!out) {
      fprintf(stderr, "bench: cannot write %s\n", svg_path.c_str());
      return 1;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) { return bench::Main(argc, argv); }
