// Rendering a Report (report.proto): the human table and the JSON.
//
//   std::string md = RenderMarkdown(report, registry.scenarios());
//   absl::StatusOr<std::string> json = RenderJson(report);
#ifndef TOOLS_BENCH_REPORT_H_
#define TOOLS_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/bench/report.pb.h"
#include "tools/bench/scenario.h"

namespace bench {

// REPORT as markdown: the machine and settings, one table per scenario
// (its columns as declared in the Scenario of the same name in SCENARIOS),
// errors and skips under their table, and the bars. Meant for people: the
// layout may change; machines read the JSON.
std::string RenderMarkdown(const Report& report, const std::vector<Scenario>& scenarios);

// REPORT as JSON (the proto3 JSON mapping, field names as in report.proto).
absl::StatusOr<std::string> RenderJson(const Report& report);

// V with PRECISION decimals; PRECISION 0 groups thousands ("1,234,567").
std::string FormatNumber(double v, int precision);

}  // namespace bench

#endif  // TOOLS_BENCH_REPORT_H_
