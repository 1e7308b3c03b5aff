// gRPC C++ peer: a unary Echo RPC (echo.proto) over a Unix socket
// (unix:/tmp/...), served by a synchronous server with default settings.
#ifndef TOOLS_BENCH_GRPC_TRANSPORT_H_
#define TOOLS_BENCH_GRPC_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/transport.h"

namespace bench {

// Each request carries the same BYTES message as NewSyslinkEcho as its
// payload, which the server echoes. The client is one blocking stub call at
// a time: only RoundTrip() works (the latency scenario).
std::unique_ptr<Transport> NewGrpcEcho(size_t bytes);

}  // namespace bench

#endif  // TOOLS_BENCH_GRPC_TRANSPORT_H_
