// The transports that go through meshd: sessions (LISTEN/CONNECT) on one
// node or across two, and one-sided region operations. Each repetition
// starts its own meshd processes (MeshCluster) in Prepare() and stops them
// when the transport goes away; the server and client children find them
// through SYSLINK_MESHD.
//
//   one node:   client ──session (direct socket pair)── service      meshd n1 brokers
//   two nodes:  client ── meshd a ══TCP loopback══ meshd b ── service
//   two namespaces: the same with meshd a and b in namespaces joined by veth
#ifndef TOOLS_BENCH_MESH_TRANSPORT_H_
#define TOOLS_BENCH_MESH_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/bulk.h"
#include "tools/bench/transport.h"

namespace bench {

enum class MeshShape {
  kOneNode,   // a local session: meshd introduces, then steps aside
  kTwoNodes,  // a remote session: relayed by two meshds over loopback TCP
  kTwoNodesNoPolling,  // the same, both meshds with mesh.busy_poll_us: 0
  kTwoNamespaces,  // the same, each meshd in its own network namespace,
                   // joined by a veth pair (skipped where that cannot be made)
};

// Text added to the mesh { } section of every meshd the cases start (the
// --mesh_config flag), e.g. "max_session_inflight_bytes: 4194304". Set
// before the first case; forked children inherit it.
void SetExtraMeshConfig(std::string text);

// Requests of BYTES (BuildMessage()) on a session to a service that echoes
// each as a reply of the same size (like NewSyslinkEcho).
std::unique_ptr<Transport> NewSessionEcho(size_t bytes, MeshShape shape);

// DMAW commands of BYTES each from WINDOW syslink_dma_alloc() buffers on a
// session; the service reads the data into its own buffer (RECEIVE: copied
// into a plain one, or in map mode into syslink_dma_alloc() buffers), checks
// it (CheckBulk) and replies (like NewSyslinkDmaWrite).
std::unique_ptr<Transport> NewSessionDmaWrite(size_t bytes, int window, MeshShape shape,
                                              DmaReceive receive = DmaReceive::kCopy);

// One-sided region operations: the server process registers a region of
// 32 * BYTES (in a syslink_dma_alloc() buffer) and does nothing else; the
// client reads (or, WRITE, writes) BYTES at a time, at successive offsets,
// into (from) a page-aligned syslink_dma_alloc() buffer. One operation at a
// time (MsgClient::RoundTrip only). Reads are checked against the owner's
// pattern on the first operation and by stamp on the rest.
std::unique_ptr<Transport> NewRegionOps(size_t bytes, bool write, MeshShape shape);

}  // namespace bench

#endif  // TOOLS_BENCH_MESH_TRANSPORT_H_
