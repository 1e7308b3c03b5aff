#include "tools/bench/report.h"

#include <algorithm>
#include <cmath>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace bench {
namespace {

void Row(std::string* out, const std::vector<std::string>& cells) {
  absl::StrAppend(out, "| ", absl::StrJoin(cells, " | "), " |\n");
}

// The first line of TEXT, at most 160 characters, with '|' escaped.
std::string Cell(const std::string& text) {
  std::string s = text.substr(0, std::min(text.find('\n'), size_t{160}));
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

void RenderScenario(const ScenarioResult& r, const Scenario& s, std::string* out) {
  absl::StrAppend(out, "## ", r.title(), " (`", r.name(), "`)\n\n", r.method(), "\n\n");
  std::vector<std::string> head = {s.group_title, s.variant_title};
  std::vector<std::string> rule = {"---", "---"};
  for (const Column& c : s.columns) {
    head.push_back(c.title);
    rule.push_back("--:");
  }
  for (const RatioColumn& c : s.ratios) {
    head.push_back(c.title);
    rule.push_back("--:");
  }
  head.push_back("rep spread");
  rule.push_back("--:");
  Row(out, head);
  Row(out, rule);
  std::vector<std::string> notes;
  for (const CaseResult& c : r.cases()) {
    std::vector<std::string> cells = {c.group(), c.variant()};
    const bool measured = !c.median().empty();
    for (const Column& col : s.columns) {
      auto v = c.median().find(col.metric);
      cells.push_back(v == c.median().end() ? "" : FormatNumber(v->second, col.precision));
    }
    for (const RatioColumn& col : s.ratios) {
      auto v = c.ratios().find(col.title);
      cells.push_back(v == c.ratios().end() ? "" : FormatNumber(v->second, 2));
    }
    cells.push_back(measured ? absl::StrFormat("%.0f%%", c.spread() * 100) : "");
    if (!c.error().empty()) {
      cells[2] = measured ? cells[2] + " (some reps failed)" : "failed";
      notes.push_back(absl::StrCat("- ", c.group(), " ", c.variant(), " failed: ", Cell(c.error())));
    } else if (!measured && !c.skipped().empty()) {
      cells[2] = "skipped";
      notes.push_back(absl::StrCat("- ", c.group(), " ", c.variant(), " skipped: ", Cell(c.skipped())));
    }
    Row(out, cells);
  }
  if (!notes.empty()) absl::StrAppend(out, "\n", absl::StrJoin(notes, "\n"), "\n");
  absl::StrAppend(out, "\n");
}

}  // namespace

std::string FormatNumber(double v, int precision) {
  if (!std::isfinite(v)) return "-";
  if (precision > 0) return absl::StrFormat("%.*f", precision, v);
  std::string digits = absl::StrFormat("%.0f", std::fabs(v));
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string RenderMarkdown(const Report& report, const std::vector<Scenario>& scenarios) {
  std::string out = "# syslink mesh bench\n\n";
  const Machine& m = report.machine();
  const Settings& st = report.settings();
  Row(&out, {"", ""});
  Row(&out, {"---", "---"});
  Row(&out, {"date", m.date()});
  Row(&out, {"kernel", m.kernel()});
  Row(&out, {"CPU", absl::StrCat(m.cpu_model(), ", ", m.cores(), " cores online (", m.usable_cores(),
                                 " usable)")});
  Row(&out, {"clocksource", m.clocksource()});
  Row(&out, {"TCP congestion control", m.tcp_congestion_control()});
  Row(&out, {"build", m.optimized() ? "optimized" : "NOT optimized: use -c opt for real numbers"});
  std::string method = absl::StrCat(st.reps(), " repetitions, medians shown; each case runs ",
                                    st.measure_ms(), " ms after ", st.warmup_ms(), " ms of warm-up");
  if (st.max_round_trips() > 0) {
    absl::StrAppend(&method, ", at most ", st.max_round_trips(), " round trips (",
                    st.max_warmup_round_trips(), " warm-up)");
  }
  if (st.pace_us() > 0) {
    absl::StrAppend(&method, "; latency cases paced: one round trip every ", st.pace_us(), " µs");
  }
  absl::StrAppend(&method, "; ", st.cpus().empty() ? "processes unpinned"
                                                   : "server,client pinned to CPUs " + st.cpus());
  Row(&out, {"method", method});
  absl::StrAppend(&out, "\n");

  std::vector<const BarResult*> bars;
  for (const ScenarioResult& r : report.scenarios()) {
    for (const Scenario& s : scenarios) {
      if (s.name == r.name()) RenderScenario(r, s, &out);
    }
    for (const BarResult& b : r.bars()) bars.push_back(&b);
  }
  if (!bars.empty()) {
    absl::StrAppend(&out, "## SPEC §8 bars\n\n");
    Row(&out, {"bar", "measured", "target", ""});
    Row(&out, {"---", "--:", "--:", "---"});
    for (const BarResult* b : bars) {
      Row(&out, {b->description(), b->evaluated() ? FormatNumber(b->value(), 2) : "-",
                 absl::StrCat(b->op() == "<=" ? "≤ " : "≥ ", FormatNumber(b->target(), 2)),
                 !b->evaluated() ? "not measured" : b->met() ? "met" : "**missed**"});
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

absl::StatusOr<std::string> RenderJson(const Report& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(report, &out, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return out;
}

}  // namespace bench
