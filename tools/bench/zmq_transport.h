// ZeroMQ peers over ipc:// (a Unix socket in a fresh /tmp directory) or
// tcp://127.0.0.1, each process with its own context (one I/O thread, the
// default).
#ifndef TOOLS_BENCH_ZMQ_TRANSPORT_H_
#define TOOLS_BENCH_ZMQ_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/transport.h"

namespace bench {

enum class ZmqPattern {
  kReqRep,        // REQ client, REP server: one request at a time
  kDealerRouter,  // DEALER client, ROUTER server: requests may pipeline
};

enum class ZmqEndpoint {
  kIpc,  // ipc:// in a fresh /tmp directory
  kTcp,  // tcp://127.0.0.1:PORT, PORT picked by Prepare() (ZeroMQ's default TCP_NODELAY)
};

// The client sends the same BYTES message as NewSyslinkEcho in one frame;
// the server echoes it (a ROUTER echoes the routing frame first). The server
// binds ENDPOINT, the client connects to it.
std::unique_ptr<Transport> NewZmqEcho(size_t bytes, ZmqPattern pattern,
                                      ZmqEndpoint endpoint = ZmqEndpoint::kIpc);

}  // namespace bench

#endif  // TOOLS_BENCH_ZMQ_TRANSPORT_H_
