// The library's side of SYSLINK_CMD_LISTEN and SYSLINK_CMD_CONNECT: talking
// to the local meshd over its client socket (protocol: control.h).
#ifndef LIBSYSLINK_MESHD_CLIENT_H_
#define LIBSYSLINK_MESHD_CLIENT_H_

#include <string>

#include "common/unique_fd.h"
#include "syslink/syslink.h"

namespace libsyslink {

namespace ctl {
struct Message;
}

// The client socket: $SYSLINK_MESHD, else /run/meshd/meshd.sock if it
// exists, else $XDG_RUNTIME_DIR/meshd.sock (else the /run path).
std::string MeshdSocketPath();

// Connects to meshd's client socket. Returns 0, EACCES (the socket's mode
// keeps this process out) or ECONNREFUSED.
int DialMeshd(common::UniqueFd* out);

// Sends REQ on FD and waits up to TIMEOUT_MS (negative: forever) for its
// reply. Returns 0 with *REPLY (and any descriptor in *GOT_FD), ETIMEDOUT,
// or ECONNREFUSED if meshd hung up or answered nonsense.
int Call(int fd, const ctl::Message& req, int timeout_ms, ctl::Message* reply,
         common::UniqueFd* got_fd);

// Return 0 with INFO->fd set, or an errno (see syslink() in syslink.h).
int MeshdListen(struct syslink_info_listen* info);
int MeshdConnect(struct syslink_info_connect* info);

}  // namespace libsyslink

#endif  // LIBSYSLINK_MESHD_CLIENT_H_
