// Bulk-data checks shared by the DMA-sized transports: the sender fills its
// buffers with a pattern once and stamps each transfer's id at both ends;
// the receiver checks the stamps of every transfer and the whole pattern
// when asked (once per run), so a broken data path fails the run while the
// steady state costs two cache lines.
#ifndef TOOLS_BENCH_BULK_H_
#define TOOLS_BENCH_BULK_H_

#include <cstddef>
#include <cstdint>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "tools/bench/transport.h"

namespace bench {

// How a target takes DMAW data in.
enum class DmaReceive {
  kCopy,     // into a plain buffer: one copy
  kMapOne,   // map mode into one syslink_dma_alloc buffer: a new view each time
  kMapRing,  // map mode into a ring matching the originator's: views repeat
};

// Where an originator's bulk buffers come from.
enum class DmaBufferKind {
  kDmaAlloc,  // syslink_dma_alloc(): for syslink, the memfd travels and the target maps it
  kPlain,     // page-aligned heap memory (syslink vmsplice()s it into a pipe)
};

// An originator's WINDOW buffers of BYTES each, filled with the pattern;
// request ID uses buffer ID % WINDOW (the drivers keep at most WINDOW
// requests outstanding, so a buffer is free when its turn comes again).
class BufferRing {
 public:
  BufferRing(DmaBufferKind kind, size_t bytes, int window);
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing();

  // False if an allocation failed (errno tells why).
  bool ok() const { return ok_; }
  unsigned char* For(uint64_t id) const { return bufs_[id % bufs_.size()]; }
  size_t bytes() const { return bytes_; }

 private:
  const DmaBufferKind kind_;
  const size_t bytes_;
  std::vector<std::unique_ptr<AlignedBuffer>> plain_;
  std::vector<unsigned char*> bufs_;
  bool ok_ = false;
};

// A target's buffers for DMAW data, as RECEIVE says: one plain buffer
// (copied into), or syslink_dma_alloc() buffers in map mode (one, or a ring
// of WINDOW whose slot K matches the originator's request K). Next() is
// the buffer for the next request, which arrive in order.
class ReceiveBuffers {
 public:
  ReceiveBuffers() = default;
  ReceiveBuffers(const ReceiveBuffers&) = delete;
  ReceiveBuffers& operator=(const ReceiveBuffers&) = delete;
  ~ReceiveBuffers();

  // Allocates them and, in map mode, turns it on for descriptor FD.
  absl::Status Init(DmaReceive receive, size_t bytes, int window, int fd);
  unsigned char* Next() { return slots_[next_++ % slots_.size()]; }

 private:
  std::unique_ptr<AlignedBuffer> plain_;
  std::vector<unsigned char*> slots_;
  bool dma_alloc_ = false;
  uint64_t next_ = 0;
};

// The smallest buffer these helpers handle (two stamps).
constexpr size_t kMinBulkBytes = 16;

// Writes the pattern into P[0, N).
void FillPattern(unsigned char* p, size_t n);

// Writes ID into the first and last 8 bytes of P[0, N), N >= kMinBulkBytes.
void Stamp(unsigned char* p, size_t n, uint64_t id);

// Checks that P[0, N) holds ID's stamps and, if FULL, the pattern between
// them. Returns OK or DataLoss naming what differs.
absl::Status CheckBulk(const unsigned char* p, size_t n, uint64_t id, bool full);

}  // namespace bench

#endif  // TOOLS_BENCH_BULK_H_
