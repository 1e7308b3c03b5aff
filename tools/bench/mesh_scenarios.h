// The scenarios that go through meshd: sessions on one node and across two
// (meshd on loopback TCP), remote bulk, and one-sided region operations,
// each beside raw TCP, ZeroMQ and gRPC doing the same work in the same run.
//
//   session     local session round trip (SPEC §4: within 1.1x a socketpair)
//   remote      remote round trip (SPEC §8: within 1.5x raw TCP)
//   remote_dma  128 KiB DMAW across the mesh (SPEC §8: 80 % of raw TCP)
//   region      one-sided 128 KiB reads and writes, local and remote
#ifndef TOOLS_BENCH_MESH_SCENARIOS_H_
#define TOOLS_BENCH_MESH_SCENARIOS_H_

#include <cstddef>
#include <vector>

#include "tools/bench/scenario.h"

namespace bench {

struct MeshParams {
  std::vector<size_t> latency_bytes = {64, 4096};  // message sizes, total
  size_t dma_bytes = 128 * 1024;
  int dma_window = 8;
};

// Adds the four scenarios to REGISTRY (PARAMS as validated for the local
// scenarios: the same sizes and window rules).
void RegisterMeshScenarios(const MeshParams& params, Registry* registry);

}  // namespace bench

#endif  // TOOLS_BENCH_MESH_SCENARIOS_H_
