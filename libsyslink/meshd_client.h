// The library's side of SYSLINK_CMD_LISTEN and SYSLINK_CMD_CONNECT: talking
// to the local meshd over its client socket.
#ifndef LIBSYSLINK_MESHD_CLIENT_H_
#define LIBSYSLINK_MESHD_CLIENT_H_

#include <string>

#include "syslink/syslink.h"

namespace libsyslink {

// The client socket: $SYSLINK_MESHD, else /run/meshd/meshd.sock if it
// exists, else $XDG_RUNTIME_DIR/meshd.sock (else the /run path).
std::string MeshdSocketPath();

// True if NAME (at most SYSLINK_NAME_MAX bytes, NUL included) is a valid
// node or service name: 1-63 characters from [A-Za-z0-9._-]. EMPTY_OK
// accepts "" (CONNECT's node: this node).
bool ValidName(const char (&name)[SYSLINK_NAME_MAX], bool empty_ok);

// Return 0 with INFO->fd set, or an errno (see syslink() in syslink.h).
int MeshdListen(struct syslink_info_listen* info);
int MeshdConnect(struct syslink_info_connect* info);

}  // namespace libsyslink

#endif  // LIBSYSLINK_MESHD_CLIENT_H_
