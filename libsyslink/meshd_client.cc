#include "libsyslink/meshd_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace libsyslink {

std::string MeshdSocketPath() {
  if (const char* env = getenv("SYSLINK_MESHD"); env != nullptr && *env != '\0') {
    return env;
  }
  static const char kRun[] = "/run/meshd/meshd.sock";
  struct stat st;
  if (stat(kRun, &st) == 0) return kRun;
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/meshd.sock";
  }
  return kRun;
}

bool ValidName(const char (&name)[SYSLINK_NAME_MAX], bool empty_ok) {
  const size_t len = strnlen(name, SYSLINK_NAME_MAX);
  if (len == SYSLINK_NAME_MAX) return false;  // not terminated
  if (len == 0) return empty_ok;
  for (size_t i = 0; i < len; i++) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// Connects to meshd's client socket. Returns 0 or ECONNREFUSED.
int Dial(common::UniqueFd* out) {
  const std::string path = MeshdSocketPath();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ECONNREFUSED;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  common::UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return errno;
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ECONNREFUSED;
  }
  *out = std::move(fd);
  return 0;
}

}  // namespace

int MeshdListen(struct syslink_info_listen* info) {
  if (!ValidName(info->service, false) || (info->flags & ~SYSLINK_FLAG_NONBLOCK)) {
    return EINVAL;
  }
  common::UniqueFd ctl;
  int err = Dial(&ctl);
  if (err != 0) return err;
  return ECONNREFUSED;  // the meshd request protocol is not built yet
}

int MeshdConnect(struct syslink_info_connect* info) {
  if (!ValidName(info->node, true) || !ValidName(info->service, false)) return EINVAL;
  common::UniqueFd ctl;
  int err = Dial(&ctl);
  if (err != 0) return err;
  return ECONNREFUSED;  // the meshd request protocol is not built yet
}

}  // namespace libsyslink
