// The runner: repeats every case of a scenario, peers interleaved, and
// reduces the repetitions to medians, ratios and bars.
//
//   RunOptions options;  options.reps = 5;  options.context = ...;
//   ScenarioResult r = RunScenario(scenario, options);
//
// Repetition k runs every case once, starting at case k (rotating the order,
// so no case always follows the same neighbour); background noise thus
// spreads over all cases alike, and each case's median is taken over its
// repetitions. A case reports the medians of the repetitions that
// succeeded, and the first error if any repetition failed.
#ifndef TOOLS_BENCH_RUNNER_H_
#define TOOLS_BENCH_RUNNER_H_

#include <functional>
#include <string>

#include "tools/bench/report.pb.h"
#include "tools/bench/scenario.h"

namespace bench {

struct RunOptions {
  int reps = 5;
  RunContext context;
  // Called after each repetition of each case (progress for humans).
  std::function<void(const Scenario&, const Case&, int rep, const Measurement&)> progress;
};

// Runs SCENARIO's cases OPTIONS.reps times each; see above.
ScenarioResult RunScenario(const Scenario& scenario, const RunOptions& options);

// Fills in RESULT's medians, spreads, ratios and bars from its cases' reps,
// as SCENARIO declares them. (RunScenario calls it; exposed for tests.)
void Summarize(const Scenario& scenario, ScenarioResult* result);

}  // namespace bench

#endif  // TOOLS_BENCH_RUNNER_H_
