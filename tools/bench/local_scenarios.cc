#include "tools/bench/local_scenarios.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "tools/bench/bulk.h"
#include "tools/bench/grpc_transport.h"
#include "tools/bench/raw_transport.h"
#include "tools/bench/syslink_transport.h"
#include "tools/bench/zmq_transport.h"

namespace bench {
namespace {

constexpr char kSyslink[] = "syslink";
constexpr char kSocketpair[] = "socketpair";

std::string SizeName(size_t bytes) {
  if (bytes >= 1024 && bytes % 1024 == 0) return absl::StrCat(bytes / 1024, " KiB");
  return absl::StrCat(bytes, " B");
}

Scenario Latency(const LocalParams& p) {
  Scenario s;
  s.name = "latency";
  s.title = "Round-trip latency, one request outstanding";
  s.method =
      "The client writes a request, the server (another process) reads it and writes a reply of "
      "the same size, the client reads it; each round trip is timed with "
      "clock_gettime(CLOCK_MONOTONIC). Sizes are whole messages (syslink: 32-byte header + one "
      "element). ZeroMQ is REQ/REP over ipc://, gRPC a unary call to a sync server over unix:.";
  s.group_title = "message";
  s.columns = WithCpuColumns(
      {{"p50_us", "p50 µs", 2}, {"p99_us", "p99 µs", 2}, {"round_trips_per_s", "round trips/s", 0}});
  s.key_metric = "p50_us";
  s.ratios = {{"syslink p50 ÷ this p50", "p50_us", kSyslink, true},
              {"syslink rate ÷ this rate", "round_trips_per_s", kSyslink, true}};
  for (size_t bytes : p.latency_bytes) {
    const std::string g = SizeName(bytes);
    s.cases.push_back(MakeTransportCase(g, kSyslink, [bytes] { return NewSyslinkEcho(bytes); },
                                        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(g, kSocketpair, [bytes] { return NewSocketpairEcho(bytes); },
                                        LatencyDriver()));
    s.cases.push_back(MakeTransportCase(
        g, "zeromq", [bytes] { return NewZmqEcho(bytes, ZmqPattern::kReqRep); }, LatencyDriver()));
    s.cases.push_back(
        MakeTransportCase(g, "grpc", [bytes] { return NewGrpcEcho(bytes); }, LatencyDriver()));
    s.bars.push_back({absl::StrCat("local round trip no slower than a raw socketpair (", g,
                                   ", syslink p50 ÷ socketpair p50)"),
                      g, kSyslink, kSocketpair, "p50_us", true, 1.0});
  }
  if (!p.latency_bytes.empty()) {
    const std::string g = SizeName(p.latency_bytes.front());
    s.bars.push_back({absl::StrCat("10x gRPC's request rate (", g, ", syslink ÷ gRPC round trips/s)"),
                      g, kSyslink, "grpc", "round_trips_per_s", false, 10.0});
  }
  return s;
}

Scenario Pipeline(const LocalParams& p) {
  Scenario s;
  s.name = "pipeline";
  s.title = absl::StrCat("Pipelined throughput, ", SizeName(p.pipeline_bytes), " messages");
  s.method =
      "The client keeps WINDOW requests outstanding, sending the next as each reply arrives; the "
      "server (another process) replies to each in turn. msgs/s counts requests replied to per "
      "second. ZeroMQ is DEALER/ROUTER over ipc://.";
  s.group_title = "window";
  s.columns = WithCpuColumns({{"round_trips_per_s", "msgs/s", 0}});
  s.key_metric = "round_trips_per_s";
  s.ratios = {{"÷ socketpair", "round_trips_per_s", kSocketpair, false}};
  const size_t bytes = p.pipeline_bytes;
  for (int w : p.windows) {
    const std::string g = absl::StrCat(w);
    s.cases.push_back(MakeTransportCase(g, kSyslink, [bytes] { return NewSyslinkEcho(bytes); },
                                        WindowDriver(w, 0)));
    s.cases.push_back(MakeTransportCase(g, kSocketpair, [bytes] { return NewSocketpairEcho(bytes); },
                                        WindowDriver(w, 0)));
    s.cases.push_back(MakeTransportCase(
        g, "zeromq", [bytes] { return NewZmqEcho(bytes, ZmqPattern::kDealerRouter); },
        WindowDriver(w, 0)));
  }
  return s;
}

Scenario Dma(const LocalParams& p) {
  constexpr char kAlloc[] = "syslink, syslink_dma_alloc buffer";
  constexpr char kPlain[] = "syslink, plain page-aligned buffer";
  constexpr char kCopy[] = "socketpair, data inline";
  Scenario s;
  s.name = "dma";
  s.title = absl::StrCat(SizeName(p.dma_bytes), " DMA bandwidth, window ", p.dma_window);
  s.method =
      "The originator keeps WINDOW commands outstanding, each with its own buffer; the target "
      "(another process) receives the data into its own buffer and replies. syslink: DMAW "
      "commands, the target passes iov[1]. socketpair: the data inline in one SEQPACKET packet "
      "per request. process_vm_readv: the request names the buffer, the target reads it. "
      "GB/s = 10^9 bytes of data per second.";
  s.group_title = "transfer";
  s.variant_title = "path";
  s.columns = WithCpuColumns({{"gb_per_s", "GB/s", 2}, {"round_trips_per_s", "transfers/s", 0}});
  s.key_metric = "gb_per_s";
  s.ratios = {{"÷ socketpair", "gb_per_s", kCopy, false}};
  const size_t bytes = p.dma_bytes;
  const int w = p.dma_window;
  const std::string g = SizeName(bytes);
  s.cases.push_back(MakeTransportCase(
      g, kAlloc, [=] { return NewSyslinkDmaWrite(bytes, w, DmaBufferKind::kDmaAlloc); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(
      g, kPlain, [=] { return NewSyslinkDmaWrite(bytes, w, DmaBufferKind::kPlain); },
      WindowDriver(w, bytes)));
  constexpr char kMapOne[] = "syslink, dma_alloc, mapped (one receive buffer)";
  constexpr char kMapRing[] = "syslink, dma_alloc, mapped (matching ring)";
  s.cases.push_back(MakeTransportCase(
      g, kMapOne,
      [=] { return NewSyslinkDmaWrite(bytes, w, DmaBufferKind::kDmaAlloc, DmaReceive::kMapOne); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(
      g, kMapRing,
      [=] { return NewSyslinkDmaWrite(bytes, w, DmaBufferKind::kDmaAlloc, DmaReceive::kMapRing); },
      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(g, kCopy, [=] { return NewSocketpairBulk(bytes, w); },
                                      WindowDriver(w, bytes)));
  s.cases.push_back(MakeTransportCase(g, "process_vm_readv",
                                      [=] { return NewProcessVmReadv(bytes, w); },
                                      WindowDriver(w, bytes)));
  s.bars.push_back({absl::StrCat(g, " local DMA 5x copying through a socket (dma_alloc buffer)"),
                    g, kAlloc, kCopy, "gb_per_s", false, 5.0});
  s.bars.push_back({absl::StrCat(g, " local DMA by mapping 5x copying through a socket"), g,
                    kMapRing, kCopy, "gb_per_s", false, 5.0});
  s.bars.push_back({absl::StrCat(g, " local DMA 5x copying through a socket (plain buffer)"), g,
                    kPlain, kCopy, "gb_per_s", false, 5.0});
  return s;
}

}  // namespace

absl::Status ValidateLocalParams(const LocalParams& p) {
  for (size_t b : p.latency_bytes) {
    if (b % 8 != 0 || b < kMinMessageBytes || b > kMaxMessageBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "message size ", b, ": need a multiple of 8 in [", kMinMessageBytes, ", ",
          kMaxMessageBytes, "]"));
    }
  }
  if (p.pipeline_bytes % 8 != 0 || p.pipeline_bytes < kMinMessageBytes || p.pipeline_bytes > 256) {
    return absl::InvalidArgumentError("bad pipeline message size");
  }
  for (int w : p.windows) {
    // Both sides block in write when the socket buffers fill: keep a window
    // of 64 B messages well inside the default buffers.
    if (w < 1 || w > kMaxWindow) {
      return absl::InvalidArgumentError(absl::StrCat("windows must be in [1, ", kMaxWindow, "]"));
    }
  }
  if (p.dma_bytes < kMinBulkBytes || p.dma_bytes > SL_DMA_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("DMA size must be in [", kMinBulkBytes, ", ", SL_DMA_MAX, "]"));
  }
  if (p.dma_window < 1 || p.dma_window > 64) {
    return absl::InvalidArgumentError("the DMA window must be in [1, 64]");
  }
  return absl::OkStatus();
}

void RegisterLocalScenarios(const LocalParams& params, Registry* registry) {
  registry->Add(Latency(params));
  registry->Add(Pipeline(params));
  registry->Add(Dma(params));
}

}  // namespace bench
