// The local scenarios: syslink pairs against raw sockets, ZeroMQ and gRPC
// on one machine, client and server in two processes.
//
//   latency   round-trip latency, one request outstanding (SPEC §8: no
//             slower than a raw socketpair; 10x gRPC's request rate)
//   pipeline  messages/s with a window of requests outstanding
//   dma       128 KiB DMAW bandwidth (SPEC §8: 5x copying through a socket)
#ifndef TOOLS_BENCH_LOCAL_SCENARIOS_H_
#define TOOLS_BENCH_LOCAL_SCENARIOS_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "syslink/syslink.h"
#include "tools/bench/scenario.h"

namespace bench {

// The largest pipeline window: with both sides blocking, the window's
// messages must fit the default socket buffers.
constexpr int kMaxWindow = 64;

struct LocalParams {
  std::vector<size_t> latency_bytes = {64, 4096};  // message sizes, total
  std::vector<int> windows = {1, 16, 64};          // pipeline windows
  size_t pipeline_bytes = 64;                      // at most 256
  size_t dma_bytes = SL_DMA_MAX;
  int dma_window = 8;
};

// Checks PARAMS: message sizes multiples of 8 in [kMinMessageBytes,
// SL_MAXSIZE], windows in [1, kMaxWindow], DMA bytes in [kMinBulkBytes,
// SL_DMA_MAX], DMA window in [1, 64].
absl::Status ValidateLocalParams(const LocalParams& params);

// Adds the three scenarios to REGISTRY. PARAMS must be valid.
void RegisterLocalScenarios(const LocalParams& params, Registry* registry);

}  // namespace bench

#endif  // TOOLS_BENCH_LOCAL_SCENARIOS_H_
