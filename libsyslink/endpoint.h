// Endpoint: what stands behind a syslink descriptor in this process.
//
// A Link (one end of a pair, or a CONNECT descriptor) or a Listener (a
// LISTEN descriptor and its sessions). The C API looks the descriptor up in
// the Registry and calls these; every method returns 0/length or -errno.
#ifndef LIBSYSLINK_ENDPOINT_H_
#define LIBSYSLINK_ENDPOINT_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

#include "syslink/syslink.h"

namespace libsyslink {

class Endpoint {
 public:
  virtual ~Endpoint() = default;

  // syslink_readv / syslink_writev semantics; -errno on failure.
  virtual ssize_t Read(const struct iovec* iov, int iovcnt) = 0;
  virtual ssize_t Write(const struct iovec* iov, int iovcnt) = 0;
  // Called by syslink_close() while other threads may still be inside
  // Read/Write: wakes them (they return -EBADF or 0). The descriptor itself
  // is closed when the last reference to the Endpoint goes away.
  virtual void Shutdown() = 0;
  virtual int SetQuota(size_t cmd_bytes, size_t dma_bytes) = 0;
  // syslink_set_dma_map(): DMAW data from a peer's syslink_dma_alloc()
  // buffer into one of ours arrives as a read-only mapped view.
  virtual int SetDmaMap(bool on) = 0;
  virtual int GetStats(struct syslink_stats* st) = 0;
};

// The DMA bytes moved by this thread's last successful read (see
// syslink_dma_bytes()).
size_t& ThreadDmaBytes();
// For a DMAR command that thread's last read returned: the room its
// originator offered for the reply's data (0 otherwise). meshd forwards it.
uint32_t& ThreadDmarRoom();

}  // namespace libsyslink

#endif  // LIBSYSLINK_ENDPOINT_H_
