// Message I/O on syslink descriptors shared by the syslink transports (a
// pair, a session through meshd): read and write one message with EINTR
// retried, echo a command as its reply, check a reply.
#ifndef TOOLS_BENCH_SYSLINK_IO_H_
#define TOOLS_BENCH_SYSLINK_IO_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/bench/transport.h"

namespace bench {

// Reads one message into M (and DMAW data into DMA, if not null); retries
// EINTR. Returns its length, 0 at end-of-file.
absl::StatusOr<size_t> ReadMessage(int fd, MsgBuffer* m, void* dma, size_t dma_bytes);

// Writes M (with DMA_BYTES at DMA as iov[1], if DMA is not null).
absl::Status WriteMessage(int fd, const MsgBuffer& m, const void* dma, size_t dma_bytes);

// Turns command M, as read, into its reply with the same first element (in
// place: the payload does not move).
void EchoReply(MsgBuffer* m);

// Checks reply M of N bytes (read from a link) and returns its command's id.
absl::StatusOr<uint64_t> CheckReply(const MsgBuffer& m, size_t n);

}  // namespace bench

#endif  // TOOLS_BENCH_SYSLINK_IO_H_
