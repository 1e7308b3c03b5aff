// Bulk-data checks shared by the DMA-sized transports: the sender fills its
// buffers with a pattern once and stamps each transfer's id at both ends;
// the receiver checks the stamps of every transfer and the whole pattern
// when asked (once per run), so a broken data path fails the run while the
// steady state costs two cache lines.
#ifndef TOOLS_BENCH_BULK_H_
#define TOOLS_BENCH_BULK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace bench {

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
