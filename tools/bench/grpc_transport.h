// gRPC C++ peer: a unary Echo RPC (echo.proto) over a Unix socket
// (unix:/tmp/...) or TCP (127.0.0.1:PORT), served by a synchronous server
// with default settings.
#ifndef TOOLS_BENCH_GRPC_TRANSPORT_H_
#define TOOLS_BENCH_GRPC_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/transport.h"

namespace bench {

enum class GrpcEndpoint {
  kUnix,  // unix: in a fresh /tmp directory
  kTcp,   // 127.0.0.1:PORT, PORT picked by Prepare() (gRPC's default TCP_NODELAY)
};

// Each request carries the same BYTES message as NewSyslinkEcho as its
// payload, which the server echoes. The client is one blocking stub call at
// a time: only RoundTrip() works (the latency scenario). The server listens
// on ENDPOINT, the client's channel goes there (never through a proxy).
std::unique_ptr<Transport> NewGrpcEcho(size_t bytes, GrpcEndpoint endpoint = GrpcEndpoint::kUnix);

}  // namespace bench

#endif  // TOOLS_BENCH_GRPC_TRANSPORT_H_
