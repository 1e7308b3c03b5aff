#include "tools/bench/runner.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tools/bench/report.h"

namespace bench {
namespace {

// A case that measures nothing: it returns VALUES[rep] as METRIC, in order.
Case Fake(std::string group, std::string variant, std::vector<double> values,
          std::vector<std::string>* log) {
  Case c;
  c.group = group;
  c.variant = variant;
  auto next = std::make_shared<size_t>(0);
  c.run = [=](const RunContext&) {
    log->push_back(variant);
    Measurement m;
    (*m.mutable_metrics())["us"] = values[(*next)++ % values.size()];
    return m;
  };
  return c;
}

Scenario TwoByTwo(std::vector<std::string>* log) {
  Scenario s;
  s.name = "fake";
  s.title = "Fake";
  s.columns = {{"us", "µs", 1}};
  s.key_metric = "us";
  s.ratios = {{"a ÷ this", "us", "a", true}};
  s.bars = {{"a no slower than b", "g", "a", "b", "us", true, 1.0}};
  s.cases.push_back(Fake("g", "a", {1, 3, 2}, log));
  s.cases.push_back(Fake("g", "b", {4, 4, 10}, log));
  return s;
}

TEST(RunScenario, InterleavesRotatesAndTakesMedians) {
  std::vector<std::string> log;
  Scenario s = TwoByTwo(&log);
  RunOptions o;
  o.reps = 3;
  ScenarioResult r = RunScenario(s, o);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "b", "a", "a", "b"}));
  ASSERT_EQ(r.cases_size(), 2);
  EXPECT_EQ(r.cases(0).reps_size(), 3);
  EXPECT_EQ(r.cases(0).median().at("us"), 2);
  EXPECT_EQ(r.cases(1).median().at("us"), 4);
  EXPECT_DOUBLE_EQ(r.cases(0).spread(), (3 - 1) / 2.0);
  EXPECT_DOUBLE_EQ(r.cases(1).ratios().at("a ÷ this"), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.cases(0).ratios().at("a ÷ this"), 1.0);
  ASSERT_EQ(r.bars_size(), 1);
  EXPECT_TRUE(r.bars(0).evaluated());
  EXPECT_TRUE(r.bars(0).met());
  EXPECT_DOUBLE_EQ(r.bars(0).value(), 0.5);
}

TEST(Summarize, ErrorsAndSkipsAreKeptOutOfMedians) {
  std::vector<std::string> log;
  Scenario s = TwoByTwo(&log);
  ScenarioResult r;
  r.set_name(s.name);
  CaseResult* a = r.add_cases();
  a->set_group("g");
  a->set_variant("a");
  (*a->add_reps()->mutable_metrics())["us"] = 5;
  a->add_reps()->set_error("boom");
  CaseResult* b = r.add_cases();
  b->set_group("g");
  b->set_variant("b");
  b->add_reps()->set_skipped("not here");
  Summarize(s, &r);
  EXPECT_EQ(r.cases(0).median().at("us"), 5);
  EXPECT_EQ(r.cases(0).error(), "boom");
  EXPECT_TRUE(r.cases(1).median().empty());
  EXPECT_EQ(r.cases(1).skipped(), "not here");
  EXPECT_FALSE(r.bars(0).evaluated());  // b has no number

  Report report;
  *report.add_scenarios() = r;
  const std::string md = RenderMarkdown(report, {s});
  EXPECT_TRUE(absl::StrContains(md, "| g | a | 5.0 (some reps failed) |")) << md;
  EXPECT_TRUE(absl::StrContains(md, "| g | b | skipped |")) << md;
  EXPECT_TRUE(absl::StrContains(md, "- g b skipped: not here")) << md;
  EXPECT_TRUE(absl::StrContains(md, "| a no slower than b | - | ≤ 1.00 | not measured |")) << md;
}

TEST(FormatNumber, GroupsThousandsAndRounds) {
  EXPECT_EQ(FormatNumber(1234567.4, 0), "1,234,567");
  EXPECT_EQ(FormatNumber(999, 0), "999");
  EXPECT_EQ(FormatNumber(-1000, 0), "-1,000");
  EXPECT_EQ(FormatNumber(3.14159, 2), "3.14");
}

}  // namespace
}  // namespace bench
