// Control messages between libsyslink and meshd (protocol SMPROTO_MESHCTL).
//
// Each is one syslink message on meshd's client socket (SOCK_SEQPACKET, no
// LocalFrame), possibly with one descriptor attached (SCM_RIGHTS). Requests
// are commands with exactly one reply; the reply's sm_head.se_aux is 0 or an
// errno. Parameters are elements of the structured sm_head:
//
//   op             sender   elements                          reply elements, fd
//   kListen        library  service                           -
//   kConnect       library  service, node?, timeout_ms?       sessid, kind; fd
//   kSessionOpen   meshd    sessid, kind, peer_node?,         -
//                           peer_pid?, peer_uid?; fd
//   kSessionEnded  library  sessid, why                       -
//   kRegionRegister   library  offset, length, access; memfd  node_id, slot,
//                                                             generation, secret
//   kRegionDeregister library  slot, generation, secret       -
//
// kConnect may name the node by node_id instead of (or as well as) node;
// the id wins. A kListen connection stays open: it is the service's control
// channel, on which meshd sends kSessionOpen. So does a connection that
// registered regions: they die with it. Decode() is the check meshd runs on every
// request from a client (fuzzed: tests/fuzz/control_fuzz.cc).
#ifndef LIBSYSLINK_CONTROL_H_
#define LIBSYSLINK_CONTROL_H_

#include <cstdint>
#include <string>

#include "common/unique_fd.h"
#include "syslink/syslink.h"

namespace libsyslink {
namespace ctl {

enum class Op : sl_cmd_t {
  kListen = 1,
  kConnect = 2,
  kSessionOpen = 3,
  kSessionEnded = 4,
  kRegionRegister = 5,
  kRegionDeregister = 6,
};

// How a session's descriptor reaches its peer.
enum class Kind : uint32_t {
  kDirect = 1,   // a socket straight to the peer process (same node)
  kRelayed = 2,  // a socket to meshd, which carries it across the mesh
};

// Element ids inside sm_head.
enum Elm : sl_cmd_t {
  kElmService = 1,
  kElmNode = 2,
  kElmTimeoutMs = 3 | SE_CMDF_ASIZE4,
  kElmSessid = 4 | SE_CMDF_ASIZE8,
  kElmKind = 5 | SE_CMDF_ASIZE4,
  kElmPeerPid = 6 | SE_CMDF_ASIZE4,
  kElmPeerUid = 7 | SE_CMDF_ASIZE4,
  kElmWhy = 8 | SE_CMDF_ASIZE4,
  kElmOffset = 9 | SE_CMDF_ASIZE8,
  kElmLength = 10 | SE_CMDF_ASIZE8,
  kElmAccess = 11 | SE_CMDF_ASIZE4,
  kElmNodeId = 12 | SE_CMDF_ASIZE8,
  kElmSlot = 13 | SE_CMDF_ASIZE4,
  kElmGeneration = 14 | SE_CMDF_ASIZE4,
  kElmSecret = 15 | SE_CMDF_ASIZE8,
};

struct Message {
  Op op = Op::kListen;
  bool reply = false;
  uint64_t msgid = 0;
  int32_t error = 0;  // replies: 0 or an errno
  std::string service;
  std::string node;
  bool has_timeout = false;
  int32_t timeout_ms = 0;
  uint64_t sessid = 0;
  uint32_t kind = 0;
  int32_t peer_pid = 0;
  int32_t peer_uid = -1;
  int32_t why = 0;
  // Regions (0 means absent for each, but offset, which has a flag).
  bool has_offset = false;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t access = 0;
  uint64_t node_id = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;
  uint64_t secret = 0;
};

// A reply to M carrying ERROR.
Message ReplyTo(const Message& m, int32_t error);

// Encodes M into BUF (at least SL_MAXSIZE bytes). Returns the length to
// send (SL_MSG_ALIGN(sm_bytes)). Names must already be valid.
size_t Encode(const Message& m, void* buf);

// Decodes LEN bytes at BUF (validating them in place first). Checks the
// protocol, the op, that each element appears at most once with the right
// size, that required elements are present and names are valid. Unknown
// elements are skipped. Returns 0 or EINVAL.
int Decode(void* buf, size_t len, Message* out);

// Sends M on socket FD with PASS_FD attached if >= 0. Returns 0 or an errno.
int Send(int fd, const Message& m, int pass_fd = -1);

// Receives one message from FD (FLAGS: 0 or MSG_DONTWAIT) into *M and any
// attached descriptor into *GOT_FD. Returns 0, EPIPE at end-of-file, EINVAL
// for a malformed message (consumed), or another errno (EAGAIN, EINTR).
int Receive(int fd, int flags, Message* m, common::UniqueFd* got_fd);

}  // namespace ctl
}  // namespace libsyslink

#endif  // LIBSYSLINK_CONTROL_H_
