// Message I/O on syslink descriptors shared by the syslink transports (a
// pair, a session through meshd): read and write one message with EINTR
// retried, echo a command as its reply, check a reply; and the two client
// sides (echo requests, DMAW commands).
#ifndef TOOLS_BENCH_SYSLINK_IO_H_
#define TOOLS_BENCH_SYSLINK_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/bench/bulk.h"
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

// The client side on syslink descriptor FD (a pair's end or a CONNECT
// descriptor; closed with the client): requests of BYTES (BuildMessage())
// whose replies the server echoes.
std::unique_ptr<MsgClient> NewSyslinkMsgClient(int fd, size_t bytes);

// The same with bare DMAW commands, each from buffer id % window of SLOTS,
// stamped with its id.
std::unique_ptr<MsgClient> NewSyslinkDmaClient(int fd, std::unique_ptr<BufferRing> slots);

}  // namespace bench

#endif  // TOOLS_BENCH_SYSLINK_IO_H_
