// systemd readiness notification (sd_notify(3)) without libsystemd: one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET.
//
//   meshd::SdNotify("READY=1");                 // after the sockets are up
//   meshd::SdNotify("STATUS=3 peers, 2 up");
//   meshd::SdNotify("STOPPING=1");              // on SIGTERM, before draining
//
// With `Type=notify` in the unit file systemd sets NOTIFY_SOCKET; anywhere
// else it is unset and SdNotify() does nothing.
#ifndef MESHD_SD_NOTIFY_H_
#define MESHD_SD_NOTIFY_H_

#include <string_view>

#include "absl/status/status.h"

namespace meshd {

// Sends STATE (one or more newline-separated VAR=VALUE assignments, e.g.
// "READY=1" or "STATUS=draining\nSTOPPING=1") as one datagram to
// $NOTIFY_SOCKET. Returns true if it was sent. Returns false, doing nothing,
// if NOTIFY_SOCKET is unset or empty (not running under systemd: not an
// error). Returns false and logs a warning (comp=sd_notify) if it is set but
// the datagram cannot be sent. Thread-safe; blocks only as long as a send on
// a datagram socket can (systemd reads its socket promptly).
bool SdNotify(std::string_view state);

// The work behind SdNotify(), with the address given: sends STATE as one
// datagram to the AF_UNIX SOCK_DGRAM socket at SOCKET, an absolute path or
// "@name" for the abstract namespace (as systemd writes NOTIFY_SOCKET).
// Errors: InvalidArgument for an empty STATE or a SOCKET that is empty,
// relative, or longer than a socket address holds (107 bytes); otherwise the
// errno of socket(2) or sendto(2) as by common::ErrnoToStatus (NotFound for a
// missing path, Unavailable for ECONNREFUSED: nobody bound there).
absl::Status SdNotifyTo(std::string_view socket, std::string_view state);

}  // namespace meshd

#endif  // MESHD_SD_NOTIFY_H_
