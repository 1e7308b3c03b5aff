// The library's side of SYSLINK_CMD_LISTEN and SYSLINK_CMD_CONNECT: talking
// to the local meshd over its client socket (protocol: control.h).
#ifndef LIBSYSLINK_MESHD_CLIENT_H_
#define LIBSYSLINK_MESHD_CLIENT_H_

#include <cstdint>
#include <memory>
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
// PASS_FD (if >= 0) goes with the request.
int Call(int fd, const ctl::Message& req, int timeout_ms, ctl::Message* reply,
         common::UniqueFd* got_fd, int pass_fd = -1);

class Link;

// CONNECT to SERVICE on node NODE_ID (0: the node called NODE, "" for this
// one), as syslink(SYSLINK_CMD_CONNECT) does, but hands back the session's
// Link itself instead of a registered descriptor. DIRECT_DEATH_ERRNO is
// the se_aux of replies synthesized when a direct session's peer goes away
// (a relayed session's is ECONNABORTED); *RELAYED (if not null) tells which
// it is. Returns 0 with *OUT set, or an errno of CONNECT.
int MeshdConnectLink(const std::string& node, uint64_t node_id, const std::string& service,
                     int timeout_ms, int direct_death_errno, std::shared_ptr<Link>* out,
                     bool* relayed);

// Return 0 with INFO->fd set, or an errno (see syslink() in syslink.h).
int MeshdListen(struct syslink_info_listen* info);
int MeshdConnect(struct syslink_info_connect* info);

}  // namespace libsyslink

#endif  // LIBSYSLINK_MESHD_CLIENT_H_
