#include "libsyslink/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "libsyslink/link.h"

namespace libsyslink {

Registry& Registry::Get() {
  static Registry* registry = new Registry;
  return *registry;
}

std::shared_ptr<Endpoint> Registry::Find(int fd, int* err) {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = map_.find(fd);
    if (it != map_.end()) return it->second;
  }
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
    *err = EBADF;
    return nullptr;
  }
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &(len = sizeof domain)) != 0 ||
      type != SOCK_SEQPACKET || domain != AF_UNIX) {
    *err = ENOTSOCK;
    return nullptr;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto& slot = map_[fd];
  if (slot == nullptr) slot = std::make_shared<Link>(fd, Link::Options{});
  return slot;
}

void Registry::Add(int fd, std::shared_ptr<Endpoint> ep) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  map_[fd] = std::move(ep);
}

std::shared_ptr<Endpoint> Registry::Remove(int fd) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = map_.find(fd);
  if (it == map_.end()) return nullptr;
  auto ep = std::move(it->second);
  map_.erase(it);
  return ep;
}

}  // namespace libsyslink
