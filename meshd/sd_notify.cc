#include "meshd/sd_notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace meshd {
namespace {

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

absl::Status SdNotifyTo(std::string_view socket, std::string_view state) {
  if (state.empty()) {
    return absl::InvalidArgumentError("sd_notify: empty state");
  }
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (socket.empty() || (socket[0] != '/' && socket[0] != '@')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sd_notify: NOTIFY_SOCKET \"", AbslView(socket),
        "\" is neither an absolute path nor an abstract socket (@name)"));
  }
  // A path needs room for its NUL; an abstract name's '@' becomes the NUL.
  const size_t max = socket[0] == '/' ? sizeof addr.sun_path - 1
                                      : sizeof addr.sun_path;
  if (socket.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("sd_notify: NOTIFY_SOCKET \"", AbslView(socket),
                     "\" is longer than ", max, " bytes"));
  }
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  if (socket[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t addr_len =
      static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) +
                             socket.size() + (socket[0] == '/' ? 1 : 0));

  common::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return common::ErrnoToStatus(errno, "sd_notify: socket");
  ssize_t n;
  do {
    n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const struct sockaddr*>(&addr), addr_len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return common::ErrnoToStatus(
        errno, absl::StrCat("sd_notify: send to ", AbslView(socket)));
  }
  return absl::OkStatus();
}

bool SdNotify(std::string_view state) {
  const char* socket = ::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || socket[0] == '\0') return false;
  absl::Status status = SdNotifyTo(socket, state);
  if (!status.ok()) {
    SLOG_WARN("sd_notify", "cannot notify systemd")
        .Kv("state", state)
        .Kv("err", status);
    return false;
  }
  return true;
}

}  // namespace meshd
