// The bench framework: scenarios, their cases, and the registry main() fills.
//
// A Scenario is one table of the report: a set of cases measured side by
// side in the same run (e.g. "round-trip latency": syslink, socketpair,
// ZeroMQ and gRPC at 64 B and 4 KiB). A Case is one row: a group (the
// parameter the row shares with its peers, e.g. "64 B") and a variant (what
// is measured, e.g. "syslink"), and a function that runs one repetition and
// returns what it measured. The runner (runner.h) repeats every case,
// interleaving peers, and reports medians; the report (report.h) prints the
// columns, ratio columns and bars the scenario declares.
//
// Adding a scenario (say, remote sessions through meshd) is a new file that
// builds a Scenario, usually from MakeTransportCase() with a Transport
// (transport.h) and a driver (driver.h), and one Register call in main():
//
//   Scenario s;
//   s.name = "remote";  s.title = "Remote round trip";  ...
//   s.columns = {{"p50_us", "p50 µs", 1}};
//   s.cases.push_back(MakeTransportCase("64 B", "syslink",
//       [] { return NewMeshEcho(64); }, LatencyDriver()));
//   registry->Add(std::move(s));
#ifndef TOOLS_BENCH_SCENARIO_H_
#define TOOLS_BENCH_SCENARIO_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/bench/driver.h"
#include "tools/bench/process.h"
#include "tools/bench/report.pb.h"
#include "tools/bench/transport.h"

namespace bench {

// What every repetition of every case gets.
struct RunContext {
  Budget budget;
  ProcessOptions process;
};

struct Case {
  std::string group;
  std::string variant;
  // Runs one repetition. Failures go in the Measurement's error field,
  // "cannot run here" in its skipped field.
  std::function<Measurement(const RunContext&)> run;
};

// A metric shown as a table column: METRIC's median, with PRECISION
// decimals (0: an integer with thousands separators).
struct Column {
  std::string metric;
  std::string title;
  int precision = 1;
};

// COLUMNS followed by the two every table shows (cpu_meter.h): "cpu_us",
// the machine's busy CPU µs per round trip (or transfer, or message), and
// "steal_pct", the percentage of the machine's CPU the hypervisor took
// during the measured phase.
std::vector<Column> WithCpuColumns(std::vector<Column> columns);

// A column of ratios within each group: METRIC of REFERENCE (a variant of
// the same group) over this row's METRIC, or this row's over the
// reference's when !REFERENCE_OVER_THIS.
struct RatioColumn {
  std::string title;
  std::string metric;
  std::string reference;
  bool reference_over_this = false;
};

// A SPEC §8 bar: METRIC of NUMERATOR over METRIC of DENOMINATOR (variants
// in GROUP) compared with TARGET.
struct Bar {
  std::string description;
  std::string group;
  std::string numerator;
  std::string denominator;
  std::string metric;
  bool at_most = false;  // value <= target (else value >= target)
  double target = 1;
};

struct Scenario {
  std::string name;    // short id, for --only
  std::string title;
  std::string method;  // one line: how it is measured
  std::string group_title = "group";
  std::string variant_title = "transport";
  std::vector<Column> columns;
  std::string key_metric;  // the one whose spread across reps is shown
  std::vector<RatioColumn> ratios;
  std::vector<Bar> bars;
  std::vector<Case> cases;
};

// The scenarios of one run, in the order they were added.
class Registry {
 public:
  // Adds SCENARIO; its name must be unique (returns false otherwise).
  bool Add(Scenario scenario);
  const std::vector<Scenario>& scenarios() const { return scenarios_; }

 private:
  std::vector<Scenario> scenarios_;
};

using TransportFactory = std::function<std::unique_ptr<Transport>()>;
using Driver = std::function<absl::StatusOr<Measurement>(MsgClient& client, const Budget& budget)>;

// A case that runs a fresh transport from FACTORY across two processes
// (RunClientServer) and measures it with DRIVER in the client process.
Case MakeTransportCase(std::string group, std::string variant, TransportFactory factory,
                       Driver driver);

// The drivers of driver.h as Drivers.
Driver LatencyDriver();
Driver WindowDriver(int window, size_t bytes_per_round_trip);

}  // namespace bench

#endif  // TOOLS_BENCH_SCENARIO_H_
