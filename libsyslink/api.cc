// The C API of syslink.h: argument checks, descriptor lookup, errno.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "libsyslink/dma.h"
#include "libsyslink/link.h"
#include "libsyslink/meshd_client.h"
#include "libsyslink/region.h"
#include "libsyslink/registry.h"
#include "syslink/syslink.h"

namespace {

using libsyslink::Endpoint;
using libsyslink::Registry;

// Sets errno from a -errno result; passes other values through.
template <typename T>
T Result(T r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

std::shared_ptr<Endpoint> Lookup(int fd) {
  int err = 0;
  auto ep = Registry::Get().Find(fd, &err);
  if (ep == nullptr) errno = err;
  return ep;
}

// The size of each command's structure, and where its result field ends.
bool CommandSizes(int cmd, size_t* size, size_t* result_end) {
  switch (cmd) {
    case SYSLINK_CMD_NEW:
      *size = sizeof(struct syslink_info_new);
      *result_end = offsetof(struct syslink_info_new, fds) + sizeof(int[2]);
      return true;
    case SYSLINK_CMD_LISTEN:
      *size = sizeof(struct syslink_info_listen);
      *result_end = offsetof(struct syslink_info_listen, fd) + sizeof(int);
      return true;
    case SYSLINK_CMD_CONNECT:
      *size = sizeof(struct syslink_info_connect);
      *result_end = offsetof(struct syslink_info_connect, fd) + sizeof(int);
      return true;
    default:
      return false;
  }
}

int NewPair(struct syslink_info_new* info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return errno;
  for (int fd : fds) {
    Registry::Get().Add(fd, std::make_shared<libsyslink::Link>(fd, libsyslink::Link::Options{}));
  }
  info->fds[0] = fds[0];
  info->fds[1] = fds[1];
  return 0;
}

}  // namespace

extern "C" {

int syslink(int cmd, struct syslink_info* info, size_t bytes) {
  if (info == nullptr) {
    errno = EFAULT;
    return -1;
  }
  size_t size, result_end;
  if (!CommandSizes(cmd, &size, &result_end) || bytes > sizeof(union syslink_info_all) ||
      bytes < result_end) {
    errno = EINVAL;
    return -1;
  }
  // Shorter (older) structures are zero-extended.
  union syslink_info_all u;
  memset(&u, 0, sizeof u);
  memcpy(&u, info, std::min(bytes, size));
  if (u.head.version != SYSLINK_INFO_VERSION || u.head.reserved[0] != 0 ||
      u.head.reserved[1] != 0) {
    errno = EINVAL;
    return -1;
  }
  int err;
  switch (cmd) {
    case SYSLINK_CMD_NEW:
      err = NewPair(&u.cmd_new);
      break;
    case SYSLINK_CMD_LISTEN:
      err = libsyslink::MeshdListen(&u.cmd_listen);
      break;
    default:
      err = libsyslink::MeshdConnect(&u.cmd_connect);
      break;
  }
  if (err != 0) {
    errno = err;
    return -1;
  }
  u.head.wbflag = 1;
  memcpy(info, &u, std::min(bytes, size));
  return 0;
}

ssize_t syslink_readv(int fd, const struct iovec* iov, int iovcnt) {
  auto ep = Lookup(fd);
  if (ep == nullptr) return -1;
  return Result(ep->Read(iov, iovcnt));
}

ssize_t syslink_read(int fd, void* buf, size_t bytes) {
  struct iovec iov = {buf, bytes};
  return syslink_readv(fd, &iov, 1);
}

ssize_t syslink_writev(int fd, const struct iovec* iov, int iovcnt) {
  auto ep = Lookup(fd);
  if (ep == nullptr) return -1;
  return Result(ep->Write(iov, iovcnt));
}

ssize_t syslink_write(int fd, const void* buf, size_t bytes) {
  struct iovec iov = {const_cast<void*>(buf), bytes};
  return syslink_writev(fd, &iov, 1);
}

int syslink_close(int fd) {
  auto ep = Registry::Get().Remove(fd);
  if (ep == nullptr) {
    // Never used through the library (received, inherited): just close it.
    return close(fd);
  }
  // Other threads still inside a call on it: wake them. The socket itself
  // closes when the last of them lets go.
  if (ep.use_count() > 1) ep->Shutdown();
  return 0;
}

void* syslink_dma_alloc(size_t bytes) { return libsyslink::DmaBuffers::Get().Alloc(bytes); }

int syslink_dma_free(void* buf) {
  const int err = libsyslink::DmaBuffers::Get().Free(buf);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

size_t syslink_dma_bytes(void) { return libsyslink::ThreadDmaBytes(); }

int syslink_set_quota(int fd, size_t cmd_bytes, size_t dma_bytes) {
  auto ep = Lookup(fd);
  if (ep == nullptr) return -1;
  return Result(ep->SetQuota(cmd_bytes, dma_bytes));
}

int syslink_set_dma_map(int fd, int on) {
  auto ep = Lookup(fd);
  if (ep == nullptr) return -1;
  return Result(ep->SetDmaMap(on != 0));
}

int syslink_get_stats(int fd, struct syslink_stats* st) {
  if (st == nullptr) {
    errno = EFAULT;
    return -1;
  }
  auto ep = Lookup(fd);
  if (ep == nullptr) return -1;
  return Result(ep->GetStats(st));
}

// ---------------------------------------------------------------------------
// Regions (syslink/region.h)

int syslink_region_register(void* addr, size_t bytes, int access,
                            struct syslink_region_key* key) {
  if (key == nullptr) {
    errno = EFAULT;
    return -1;
  }
  return Result(libsyslink::RegionClient::Get().Register(addr, bytes, access, key));
}

int syslink_region_deregister(const struct syslink_region_key* key) {
  if (key == nullptr) {
    errno = EFAULT;
    return -1;
  }
  return Result(libsyslink::RegionClient::Get().Deregister(*key));
}

ssize_t syslink_region_read(const struct syslink_region_key* key, uint64_t offset, void* buf,
                            size_t bytes) {
  if (key == nullptr || (buf == nullptr && bytes > 0)) {
    errno = EFAULT;
    return -1;
  }
  return Result(libsyslink::RegionClient::Get().Transfer(false, *key, offset,
                                                         static_cast<char*>(buf), bytes));
}

ssize_t syslink_region_write(const struct syslink_region_key* key, uint64_t offset,
                             const void* buf, size_t bytes) {
  if (key == nullptr || (buf == nullptr && bytes > 0)) {
    errno = EFAULT;
    return -1;
  }
  // (Only read from: a write's data goes out.)
  return Result(libsyslink::RegionClient::Get().Transfer(
      true, *key, offset, static_cast<char*>(const_cast<void*>(buf)), bytes));
}

int syslink_region_get_stats(struct syslink_region_stats* st) {
  if (st == nullptr) {
    errno = EFAULT;
    return -1;
  }
  libsyslink::RegionClient::Get().GetStats(st);
  return 0;
}

}  // extern "C"
