#include "tools/bench/runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tools/bench/stats.h"

namespace bench {
namespace {

// The case of RESULT in GROUP with VARIANT that has METRIC, or null.
const CaseResult* Find(const ScenarioResult& result, const std::string& group,
                       const std::string& variant, const std::string& metric) {
  for (const CaseResult& c : result.cases()) {
    if (c.group() == group && c.variant() == variant && c.median().count(metric) > 0) {
      return &c;
    }
  }
  return nullptr;
}

void SummarizeCase(const Scenario& scenario, CaseResult* c) {
  std::map<std::string, std::vector<double>> values;
  for (const Measurement& m : c->reps()) {
    if (!m.error().empty()) {
      if (c->error().empty()) c->set_error(m.error());
      continue;
    }
    if (!m.skipped().empty()) {
      if (c->skipped().empty()) c->set_skipped(m.skipped());
      continue;
    }
    for (const auto& [name, v] : m.metrics()) values[name].push_back(v);
  }
  for (const auto& [name, v] : values) (*c->mutable_median())[name] = Median(v);
  auto key = values.find(scenario.key_metric);
  if (key != values.end() && c->median().at(scenario.key_metric) != 0) {
    const auto [lo, hi] = std::minmax_element(key->second.begin(), key->second.end());
    c->set_spread((*hi - *lo) / c->median().at(scenario.key_metric));
  }
}

}  // namespace

void Summarize(const Scenario& scenario, ScenarioResult* result) {
  for (CaseResult& c : *result->mutable_cases()) SummarizeCase(scenario, &c);
  for (CaseResult& c : *result->mutable_cases()) {
    for (const RatioColumn& r : scenario.ratios) {
      const CaseResult* ref = Find(*result, c.group(), r.reference, r.metric);
      auto mine = c.median().find(r.metric);
      if (ref == nullptr || mine == c.median().end()) continue;
      const double num = r.reference_over_this ? ref->median().at(r.metric) : mine->second;
      const double den = r.reference_over_this ? mine->second : ref->median().at(r.metric);
      if (den != 0) (*c.mutable_ratios())[r.title] = num / den;
    }
  }
  for (const Bar& b : scenario.bars) {
    BarResult* out = result->add_bars();
    out->set_description(b.description);
    out->set_op(b.at_most ? "<=" : ">=");
    out->set_target(b.target);
    const CaseResult* num = Find(*result, b.group, b.numerator, b.metric);
    const CaseResult* den = Find(*result, b.group, b.denominator, b.metric);
    if (num == nullptr || den == nullptr || den->median().at(b.metric) == 0) continue;
    const double v = num->median().at(b.metric) / den->median().at(b.metric);
    out->set_value(v);
    out->set_evaluated(true);
    out->set_met(b.at_most ? v <= b.target : v >= b.target);
  }
}

ScenarioResult RunScenario(const Scenario& scenario, const RunOptions& options) {
  ScenarioResult result;
  result.set_name(scenario.name);
  result.set_title(scenario.title);
  result.set_method(scenario.method);
  for (const Case& c : scenario.cases) {
    CaseResult* r = result.add_cases();
    r->set_group(c.group);
    r->set_variant(c.variant);
  }
  const size_t n = scenario.cases.size();
  for (int rep = 0; rep < options.reps; rep++) {
    for (size_t k = 0; k < n; k++) {
      const size_t i = (k + static_cast<size_t>(rep)) % n;
      const Case& c = scenario.cases[i];
      Measurement m = c.run(options.context);
      if (options.progress) options.progress(scenario, c, rep, m);
      *result.mutable_cases(static_cast<int>(i))->add_reps() = std::move(m);
    }
  }
  Summarize(scenario, &result);
  return result;
}

}  // namespace bench
