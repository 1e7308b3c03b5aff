// syslinkctl's output: JSON from the protobuf messages (stable), aligned
// human tables (not stable), and the problems each answer reveals.
//
//   std::cout << syslinkctl::ToJson(response, /*pretty=*/true);
//   std::cout << syslinkctl::RenderNodes(nodes);
//   for (const std::string& p : syslinkctl::NodeProblems(nodes)) ...
//
// Human output may change between versions; scripts use -j.
#ifndef TOOLS_SYSLINKCTL_FORMAT_H_
#define TOOLS_SYSLINKCTL_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "proto/admin.pb.h"

namespace syslinkctl {

// A table: a header row and rows of cells, rendered with columns padded to
// their widest cell, two spaces apart; numeric columns are right-aligned.
//
//   Table t({"NAME", "#PID"});   // a leading '#' marks a numeric column
//   t.AddRow({"echo", "100"});
//   out << t.Render();
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // ROW has one cell per header (missing cells are empty, extra ones
  // dropped).
  void AddRow(std::vector<std::string> row);
  size_t rows() const { return rows_.size(); }
  // The header line and the rows, each ending in "\n"; no trailing spaces.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

// MESSAGE in protobuf's JSON mapping with the field names of the .proto,
// every field present (zeros too), enums by name, 64-bit integers as
// strings. PRETTY: indented, else one line. Ends in "\n".
std::string ToJson(const google::protobuf::Message& message, bool pretty);

// Human units.
std::string FormatBytes(uint64_t bytes);          // "512B", "1.5KiB", "3.0MiB"
std::string HumanDuration(absl::Duration d);     // "250us", "1.50ms", "3.2s", "1h2m3s", "2d1h"
std::string FormatMicros(uint64_t us);            // HumanDuration of US microseconds
std::string FormatHex(uint64_t v);                // "0x1a"
// The time since UNIX_MS at NOW, or "-" for 0.
std::string FormatAge(int64_t unix_ms, absl::Time now);

// Tables and key/value views of each answer. NOW is for ages. Each ends
// in "\n".
std::string RenderStatus(const meshd::admin::GetStatusResponse& r);
std::string RenderNodes(const meshd::admin::ListNodesResponse& r);
std::string RenderLinks(const meshd::admin::ListLinksResponse& r, absl::Time now);
std::string RenderRoutes(const meshd::admin::ListRoutesResponse& r);
std::string RenderSessions(const meshd::admin::ListSessionsResponse& r, absl::Time now);
std::string RenderServices(const meshd::admin::ListServicesResponse& r);
std::string RenderRegions(const meshd::admin::ListRegionsResponse& r, absl::Time now);
std::string RenderSfBuf(const meshd::admin::GetSfBufStatsResponse& r);
// Every counter, one per line, by dotted path ("mesh.links_up"), in field
// order (map keys sorted).
std::string RenderCounters(const meshd::admin::GetCountersResponse& r);
std::string RenderTrace(const meshd::admin::TraceResponse& r);
std::string RenderDrain(const meshd::admin::DrainResponse& r);
// One ping line, as ping(8) prints them.
std::string RenderPingReply(const meshd::admin::PingReply& r);
// The summary after the last reply.
std::string RenderPingSummary(const std::string& node,
                              const std::vector<meshd::admin::PingReply>& replies);

// Problems found (exit code 1), one sentence each; empty if none.
//   status: draining; a configured peer without an established link; a
//           known node unreachable.
//   nodes:  a node unreachable.
//   links:  a configured peer not "up".
std::vector<std::string> StatusProblems(const meshd::admin::GetStatusResponse& r);
std::vector<std::string> NodeProblems(const meshd::admin::ListNodesResponse& r);
std::vector<std::string> LinkProblems(const meshd::admin::ListLinksResponse& r);

// Names used in tables.
std::string NodeStateName(meshd::admin::Node::State s);     // "self", "reachable"...
std::string LinkStateName(meshd::admin::Link::State s);     // "established"...
std::string SessionKindName(meshd::admin::Session::Kind k); // "local", "client-edge"...
std::string ProbeResultName(meshd::admin::ProbeResult r);   // "ok", "unreachable"...

}  // namespace syslinkctl

#endif  // TOOLS_SYSLINKCTL_FORMAT_H_
