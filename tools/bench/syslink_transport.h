// The syslink transports under test: a local pair (SYSLINK_CMD_NEW) carrying
// request/reply messages, and the same pair carrying DMAW commands.
#ifndef TOOLS_BENCH_SYSLINK_TRANSPORT_H_
#define TOOLS_BENCH_SYSLINK_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/bulk.h"
#include "tools/bench/transport.h"

namespace bench {

// Requests of BYTES total (see BuildMessage()); the server replies to each
// with a reply of the same size carrying the same element (built in place
// with sl_msg_init_reply() + sl_elm_make()). Reads pass an iov[0] of
// SL_MAXSIZE (the library's one-system-call path).
std::unique_ptr<Transport> NewSyslinkEcho(size_t bytes);

// Bare DMAW commands, each with a BYTES buffer (page-aligned, at most
// SL_DMA_MAX) of KIND of its own among WINDOW buffers (a BufferRing). The server
// reads the data into its own iov[1] and replies with a bare reply; it
// checks the data (fully for the first command, an id stamped at both ends
// of the buffer for every command).
std::unique_ptr<Transport> NewSyslinkDmaWrite(size_t bytes, int window, DmaBufferKind kind,
                                              DmaReceive receive = DmaReceive::kCopy);

}  // namespace bench

#endif  // TOOLS_BENCH_SYSLINK_TRANSPORT_H_
