// Transport: one way of moving requests and replies between two processes,
// as a scenario drives it. Each transport under test (a syslink pair, a raw
// socketpair, ZeroMQ, gRPC, ...) implements it; the drivers (driver.h) and
// the process harness (process.h) are shared.
//
// Life of a transport for one repetition of one case:
//
//   orchestrator:   t->Prepare()         make what both sides share (a pair, a socket dir)
//                   fork server, fork client
//                   t->CloseInParent()   drop the orchestrator's copies
//   server child:   t->Serve(ctx)        calls ctx.Ready(), serves until the client is gone
//   client child:   t->Connect()         -> MsgClient, driven by a driver
//   orchestrator:   destroy t            remove what Prepare() made on disk
//
// A request is identified by a 64-bit id chosen by the driver: ids increase,
// and at most the driver's window of them is outstanding at once. Servers
// answer in arrival order.
#ifndef TOOLS_BENCH_TRANSPORT_H_
#define TOOLS_BENCH_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "syslink/syslink.h"
#include "tools/bench/process.h"

namespace bench {

// The client side, in the client process.
class MsgClient {
 public:
  virtual ~MsgClient() = default;

  // Sends request ID without waiting for its reply.
  virtual absl::Status Send(uint64_t id) = 0;
  // Waits for the next reply and returns its request's id.
  virtual absl::StatusOr<uint64_t> Receive() = 0;
  // Sends request ID and waits for its reply. The default is Send() and
  // Receive(); transports that cannot pipeline (a synchronous RPC) override
  // it and fail Send()/Receive().
  virtual absl::Status RoundTrip(uint64_t id);
};

class Transport {
 public:
  virtual ~Transport() = default;

  // In the orchestrator, before fork(): creates what both sides share.
  virtual absl::Status Prepare() = 0;
  // In the orchestrator, after both children were forked: closes its copies
  // of shared descriptors, so that each child sees the other's exit.
  virtual void CloseInParent() {}
  // In the server child: calls ctx.Ready() once requests are accepted, then
  // serves until the client is gone (end-of-file, or ctx.stop_fd()).
  // Returns OK on a clean end.
  virtual absl::Status Serve(ServerContext& ctx) = 0;
  // In the client child, after the server is ready.
  virtual absl::StatusOr<std::unique_ptr<MsgClient>> Connect() = 0;
};

// A syslink message of a given total size, built with the syslink.h helpers:
// the 32-byte header and one opaque element whose payload fills the rest.
// Every message transport sends these bytes, so all move the same message;
// the id travels in sm_msgid (bytes 8..15), which the echo servers return.
union MsgBuffer {
  struct syslink_msg msg;
  unsigned char bytes[SL_MAXSIZE];
};

// The smallest and largest message BuildMessage() accepts.
constexpr size_t kMinMessageBytes = 48;  // header, element header, 8 bytes
constexpr size_t kMaxMessageBytes = SL_MAXSIZE;

// Fills *M with a command of BYTES bytes in total (a multiple of 8 within
// [kMinMessageBytes, kMaxMessageBytes]), protocol kBenchProto, command 7
// plus FLAGS (e.g. SE_CMDF_DMAW). BYTES == 32 makes a bare command.
void BuildMessage(size_t bytes, sl_cmd_t flags, MsgBuffer* m);
constexpr sl_proto_t kBenchProto = SM_PROTO_ENCODE(100);

// Reads the id (sm_msgid) of a message of N bytes at P; false if N < 16.
bool MessageId(const void* p, size_t n, uint64_t* id);

// A fresh directory with a short path (Unix socket paths are limited to
// 108 bytes), removed with its contents when this goes away.
class SocketDir {
 public:
  SocketDir() = default;
  SocketDir(const SocketDir&) = delete;
  SocketDir& operator=(const SocketDir&) = delete;
  ~SocketDir();

  // Makes the directory under /tmp. Call once.
  absl::Status Create();
  // The path of NAME inside it.
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// errno as a status: "WHAT: strerror(ERR)".
absl::Status ErrnoStatus(const char* what, int err);

// A page-aligned buffer from the heap (not a syslink DMA buffer), with every
// page touched.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes);
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  bool ok() const { return data_ != nullptr; }
  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_;
};

}  // namespace bench

#endif  // TOOLS_BENCH_TRANSPORT_H_
