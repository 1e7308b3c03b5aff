// Registry: which Endpoint stands behind each syslink descriptor.
//
// Lookups take a reader lock and return a shared_ptr, so an Endpoint lives
// until the last call using it returns even if another thread closes the
// descriptor meanwhile; its socket is closed only then, so the descriptor
// number cannot be reused under a running call.
#ifndef LIBSYSLINK_REGISTRY_H_
#define LIBSYSLINK_REGISTRY_H_

#include <memory>

#include "absl/container/flat_hash_map.h"
#include <shared_mutex>
#include "libsyslink/endpoint.h"

namespace libsyslink {

class Registry {
 public:
  static Registry& Get();  // the process's registry

  // The Endpoint behind FD. A descriptor this process never registered (one
  // received with SCM_RIGHTS, or inherited across exec) that is an AF_UNIX
  // SOCK_SEQPACKET socket is adopted as a local Link with fresh state.
  // Returns nullptr with *ERR set to EBADF or ENOTSOCK.
  std::shared_ptr<Endpoint> Find(int fd, int* err);
  void Add(int fd, std::shared_ptr<Endpoint> ep);
  // Forgets FD; returns what was there (nullptr if nothing).
  std::shared_ptr<Endpoint> Remove(int fd);

 private:
  std::shared_mutex mu_;  // guards map_
  absl::flat_hash_map<int, std::shared_ptr<Endpoint>> map_;
};

}  // namespace libsyslink

#endif  // LIBSYSLINK_REGISTRY_H_
