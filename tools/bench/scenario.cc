#include "tools/bench/scenario.h"

#include <utility>

namespace bench {

bool Registry::Add(Scenario scenario) {
  for (const Scenario& s : scenarios_) {
    if (s.name == scenario.name) return false;
  }
  scenarios_.push_back(std::move(scenario));
  return true;
}

std::vector<Column> WithCpuColumns(std::vector<Column> columns) {
  columns.push_back({"cpu_us", "CPU µs", 1});
  columns.push_back({"steal_pct", "steal %", 0});
  return columns;
}

Case MakeTransportCase(std::string group, std::string variant, TransportFactory factory,
                       Driver driver) {
  Case c;
  c.group = std::move(group);
  c.variant = std::move(variant);
  c.run = [factory = std::move(factory), driver = std::move(driver)](const RunContext& ctx) {
    std::unique_ptr<Transport> t = factory();
    absl::Status s = t->Prepare();
    if (!s.ok()) {
      Measurement m;
      if (IsSkipped(s)) {
        m.set_skipped(std::string(s.message()));
      } else {
        m.set_error(s.ToString());
      }
      return m;
    }
    return RunClientServer(
        [&t](ServerContext& server) { return t->Serve(server); },
        [&t, &driver, &ctx]() -> absl::StatusOr<Measurement> {
          absl::StatusOr<std::unique_ptr<MsgClient>> client = t->Connect();
          if (!client.ok()) return client.status();
          return driver(**client, ctx.budget);
        },
        ctx.process, [&t] { t->CloseInParent(); });
  };
  return c;
}

Driver LatencyDriver() {
  return [](MsgClient& client, const Budget& budget) { return MeasureLatency(client, budget); };
}

Driver WindowDriver(int window, size_t bytes_per_round_trip) {
  return [window, bytes_per_round_trip](MsgClient& client, const Budget& budget) {
    return MeasureWindow(client, window, bytes_per_round_trip, budget);
  };
}

}  // namespace bench
