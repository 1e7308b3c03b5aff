#include "tools/bench/mesh_scenarios.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "tools/bench/driver.h"
#include "tools/bench/grpc_transport.h"
#include "tools/bench/mesh_transport.h"
#include "tools/bench/raw_transport.h"
#include "tools/bench/syslink_transport.h"
#include "tools/bench/zmq_transport.h"

namespace bench {
namespace {

constexpr char kSession[] = "syslink session";
constexpr char kRemote[] = "syslink, 2 meshd";
constexpr char kRemoteMapped[] = "syslink, 2 meshd, service maps";
constexpr char kTcp[] = "tcp";
constexpr char kTcpPoll[] = "tcp, both ends polling";
constexpr char kRawRelay[] = "raw relay (2 forwarders)";
constexpr char kRawRelayPoll[] = "raw relay, forwarders polling";
constexpr char kRemoteNoPoll[] = "syslink, 2 meshd, no polling";
constexpr char kSocketCopy[] = "socket copy";

std::string SizeName(size_t bytes) {
  if (bytes >= 1024 && bytes % 1024 == 0) return absl::StrCat(bytes / 1024, " KiB");
  return absl::StrCat(bytes, " B");
}

// Latency, plus GB/s of BYTES per round trip.
Driver LatencyBytesDriver(size_t bytes) {
  return [bytes](MsgClient& client, const Budget& budget) -> absl::StatusOr<Measurement> {
    absl::StatusOr<Measurement> m = MeasureLatency(client, budget);
    if (!m.ok()) return m;
    const double rate = m->metrics().at("round_trips_per_s");
    (*m->mutable_metrics())["gb_per_s"] = rate * static_cast<double>(bytes) / 1e9;
    return m;
  };
}

Scenario Session(const MeshParams& p) {
  Scenario s;
  s.name = "session";
  s.title = "Local session through meshd, round-trip latency";
  s.method =
      "A service LISTENs on meshd and a client CONNECTs to it on the same node; meshd hands both "
      "ends of a socket pair out and steps aside, so the session should cost what a pair costs. "
      "One request outstanding, as in the latency table; meshd started fresh for each repetition.";
  s.group_title = "message";
  s.columns = WithCpuColumns(
      {{"p50_us", "p50 µs", 2}, {"p99_us", "p99 µs", 2}, {"round_trips_per_s", "round trips/s", 0}});
  s.key_metric = "p50_us";
  s.ratios = {{"session p50 ÷ this p50", "p50_us", kSession, true}};
  for (size_t bytes : p.latency_bytes) {
    const std::string g = SizeName(bytes);
    s.cases.push_back(MakeTransportCase(
        g, kSession, [bytes] { return NewSessionEcho(bytes, MeshShape::kOneNode); },
        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(g, "syslink pair", [bytes] { return NewSyslinkEcho(bytes); },
                                        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(g, "socketpair", [bytes] { return NewSocketpairEcho(bytes); },
                                        LatencyDriver()));
    s.bars.push_back({absl::StrCat("local session within 1.1x a raw socketpair (", g,
                                   ", session p50 ÷ socketpair p50)"),
                      g, kSession, "socketpair", "p50_us", true, 1.1});
  }
  return s;
}

Scenario Remote(const MeshParams& p) {
  Scenario s;
  s.name = "remote";
  s.title = "Remote round-trip latency (two meshd over loopback TCP)";
  s.method =
      "syslink: client -> meshd a -> TCP (authenticated mesh link) -> meshd b -> service and back, "
      "four processes, one request outstanding. tcp: the same message echoed over one loopback TCP "
      "connection (TCP_NODELAY) between two processes; both ends polling: the same, each end "
      "waiting for the other by reading again at once (MSG_DONTWAIT, sched_yield between tries), "
      "so neither ever sleeps: the floor where a wake-up is dear. raw relay: the same four-process path "
      "with bare forwarders (client -> socketpair -> forwarder -> TCP -> forwarder -> socketpair "
      "-> server, the forwarders doing nothing but recv and write): the floor of any relay shaped "
      "like the mesh; forwarders polling: the same, the forwarders never sleeping (poll with no "
      "timeout, sched_yield when idle), the floor of a relay that busy polls. syslink, 2 meshd: "
      "meshd's defaults, so each meshd busy polls for a window "
      "it learns (up to mesh.busy_poll_us, 200 µs) after handling a frame; no polling: "
      "mesh.busy_poll_us: 0, each meshd sleeps whenever it has nothing to do. zeromq: REQ/REP "
      "over tcp://. grpc: a unary call over TCP. \"over veth\": meshd a and b (and the two TCP processes) in two network "
      "namespaces joined by a veth pair. All on one 2-core machine: the meshds compete with "
      "client and server for the CPUs, which a real two-host path would not.";
  s.group_title = "message";
  s.columns = WithCpuColumns(
      {{"p50_us", "p50 µs", 1}, {"p99_us", "p99 µs", 1}, {"round_trips_per_s", "round trips/s", 0}});
  s.key_metric = "p50_us";
  s.ratios = {{"syslink p50 ÷ this p50", "p50_us", kRemote, true},
              {"syslink rate ÷ this rate", "round_trips_per_s", kRemote, true},
              {"syslink CPU ÷ this CPU", "cpu_us", kRemote, true}};
  for (size_t bytes : p.latency_bytes) {
    const std::string g = SizeName(bytes);
    s.cases.push_back(MakeTransportCase(
        g, kRemote, [bytes] { return NewSessionEcho(bytes, MeshShape::kTwoNodes); },
        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, kRemoteNoPoll, [bytes] { return NewSessionEcho(bytes, MeshShape::kTwoNodesNoPolling); },
        LatencyDriver()));
    s.cases.push_back(
        MakeTransportCase(g, kTcp, [bytes] { return NewTcpEcho(bytes); }, LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, kTcpPoll, [bytes] { return NewTcpEcho(bytes, false, true); }, LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, kRawRelay, [bytes] { return NewRawRelayEcho(bytes); }, LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, kRawRelayPoll, [bytes] { return NewRawRelayEcho(bytes, true); }, LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, "zeromq tcp",
        [bytes] { return NewZmqEcho(bytes, ZmqPattern::kReqRep, ZmqEndpoint::kTcp); },
        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, "grpc tcp", [bytes] { return NewGrpcEcho(bytes, GrpcEndpoint::kTcp); },
        LatencyDriver()));
    s.bars.push_back({absl::StrCat("remote round trip within 1.5x raw TCP (", g,
                                   ", syslink p50 ÷ tcp p50)"),
                      g, kRemote, kTcp, "p50_us", true, 1.5});
    s.bars.push_back({absl::StrCat("remote round trip within 1.5x raw TCP, meshd not polling (",
                                   g, ", p50 ÷ tcp p50)"),
                      g, kRemoteNoPoll, kTcp, "p50_us", true, 1.5});
  }
  // The same over a veth pair between two network namespaces (root only).
  for (size_t bytes : p.latency_bytes) {
    const std::string g = SizeName(bytes) + " over veth";
    s.cases.push_back(MakeTransportCase(
        g, kRemote, [bytes] { return NewSessionEcho(bytes, MeshShape::kTwoNamespaces); },
        LatencyDriver()));
    s.cases.push_back(
        MakeTransportCase(g, kTcp, [bytes] { return NewTcpEcho(bytes, true); }, LatencyDriver()));
    s.bars.push_back({absl::StrCat("remote round trip within 1.5x raw TCP (", g,
                                   ", syslink p50 ÷ tcp p50)"),
                      g, kRemote, kTcp, "p50_us", true, 1.5});
  }
  return s;
}

Scenario RemoteDma(const MeshParams& p) {
  Scenario s;
  s.name = "remote_dma";
  s.title = absl::StrCat(SizeName(p.dma_bytes), " bulk across the mesh, window ", p.dma_window);
  s.method =
      "syslink: DMAW commands from syslink_dma_alloc() buffers on a remote session (client -> "
      "meshd a -> TCP -> meshd b -> service), WINDOW outstanding, each checked by the service. "
      "tcp: the same data as [32-byte header + data] records over one loopback TCP connection, "
      "WINDOW outstanding, a 32-byte reply each. \"over veth\": across two network namespaces "
      "joined by a veth pair.";
  s.group_title = "transfer";
  s.variant_title = "path";
  s.columns = WithCpuColumns({{"gb_per_s", "GB/s", 2}, {"round_trips_per_s", "transfers/s", 0}});
  s.key_metric = "gb_per_s";
  s.ratios = {{"÷ tcp", "gb_per_s", kTcp, false}, {"CPU ÷ tcp", "cpu_us", kTcp, false}};
  const size_t bytes = p.dma_bytes;
  const int w = p.dma_window;
  const std::string g = SizeName(bytes);
  s.cases.push_back(MakeTransportCase(
      g, kRemote, [=] { return NewSessionDmaWrite(bytes, w, MeshShape::kTwoNodes); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(
      g, kRemoteMapped,
      [=] { return NewSessionDmaWrite(bytes, w, MeshShape::kTwoNodes, DmaReceive::kMapRing); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(
      g, kRemoteNoPoll,
      [=] { return NewSessionDmaWrite(bytes, w, MeshShape::kTwoNodesNoPolling); },
      WindowDriver(w, bytes)));
  s.cases.push_back(
      MakeTransportCase(g, kTcp, [=] { return NewTcpBulk(bytes, w); }, WindowDriver(w, bytes)));
  s.bars.push_back({absl::StrCat(g, " remote bulk at 80 % of raw TCP or better"), g, kRemote,
                    kTcp, "gb_per_s", false, 0.8});
  s.bars.push_back({absl::StrCat(g, " remote bulk, service mapping, at 80 % of raw TCP or better"),
                    g, kRemoteMapped, kTcp, "gb_per_s", false, 0.8});
  const std::string gv = g + " over veth";
  s.cases.push_back(MakeTransportCase(
      gv, kRemote, [=] { return NewSessionDmaWrite(bytes, w, MeshShape::kTwoNamespaces); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(gv, kTcp, [=] { return NewTcpBulk(bytes, w, true); },
                                      WindowDriver(w, bytes)));
  s.bars.push_back({absl::StrCat(gv, ": remote bulk at 80 % of raw TCP or better"), gv, kRemote,
                    kTcp, "gb_per_s", false, 0.8});
  return s;
}

Scenario Region(const MeshParams& p) {
  Scenario s;
  s.name = "region";
  s.title = absl::StrCat("One-sided region operations, ", SizeName(p.dma_bytes),
                         ", one at a time");
  s.method =
      "An owner process registers a region (syslink_dma_alloc() memory) and does nothing else; "
      "another process reads or writes it by key with syslink_region_read/write into/from its own "
      "syslink_dma_alloc() buffer, one operation at a time: locally through the node's meshd, "
      "remotely through two meshds. Baselines moving the same bytes one request at a time: "
      "socket copy (local: the data inline in a SEQPACKET packet; remote: over loopback TCP) and "
      "process_vm_readv (the target copies from the originator's memory directly).";
  s.group_title = "where";
  s.variant_title = "operation";
  s.columns = WithCpuColumns(
      {{"gb_per_s", "GB/s", 2}, {"p50_us", "p50 µs", 1}, {"p99_us", "p99 µs", 1}});
  s.key_metric = "gb_per_s";
  s.ratios = {{"÷ socket copy", "gb_per_s", kSocketCopy, false}};
  const size_t bytes = p.dma_bytes;
  const std::string local = absl::StrCat("local ", SizeName(bytes));
  const std::string remote = absl::StrCat("remote ", SizeName(bytes));
  const Driver d = LatencyBytesDriver(bytes);
  s.cases.push_back(MakeTransportCase(
      local, "region read", [=] { return NewRegionOps(bytes, false, MeshShape::kOneNode); }, d));
  s.cases.push_back(MakeTransportCase(
      local, "region write", [=] { return NewRegionOps(bytes, true, MeshShape::kOneNode); }, d));
  s.cases.push_back(
      MakeTransportCase(local, kSocketCopy, [=] { return NewSocketpairBulk(bytes, 1); }, d));
  s.cases.push_back(
      MakeTransportCase(local, "process_vm_readv", [=] { return NewProcessVmReadv(bytes, 1); }, d));
  s.cases.push_back(MakeTransportCase(
      remote, "region read", [=] { return NewRegionOps(bytes, false, MeshShape::kTwoNodes); }, d));
  s.cases.push_back(MakeTransportCase(
      remote, "region write", [=] { return NewRegionOps(bytes, true, MeshShape::kTwoNodes); }, d));
  s.cases.push_back(MakeTransportCase(remote, kSocketCopy, [=] { return NewTcpBulk(bytes, 1); }, d));
  return s;
}

}  // namespace

void RegisterMeshScenarios(const MeshParams& params, Registry* registry) {
  registry->Add(Session(params));
  registry->Add(Remote(params));
  registry->Add(RemoteDma(params));
  registry->Add(Region(params));
}

}  // namespace bench
