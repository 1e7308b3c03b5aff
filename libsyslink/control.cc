#include "libsyslink/control.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libsyslink/names.h"

namespace libsyslink {
namespace ctl {
namespace {

void PutString(struct syslink_elm* par, sl_cmd_t id, const std::string& s) {
  struct syslink_elm* e = sl_elm_make(par, id, static_cast<int>(s.size()));
  memcpy(e + 1, s.data(), s.size());
}

template <typename T>
void PutScalar(struct syslink_elm* par, sl_cmd_t id, T v) {
  struct syslink_elm* e = sl_elm_make(par, id, sizeof v);
  memcpy(e + 1, &v, sizeof v);
}

bool ValidString(const std::string& s, bool empty_ok) { return ValidName(s, empty_ok); }

}  // namespace

Message ReplyTo(const Message& m, int32_t error) {
  Message r;
  r.op = m.op;
  r.reply = true;
  r.msgid = m.msgid;
  r.error = error;
  return r;
}

size_t Encode(const Message& m, void* buf) {
  auto* msg = static_cast<struct syslink_msg*>(buf);
  struct syslink_elm* par =
      sl_msg_init_cmd(msg, SMPROTO_MESHCTL, static_cast<sl_cmd_t>(m.op) | SE_CMDF_GLOBAL);
  if (m.reply) {
    msg->sm_proto |= SM_PROTO_REPLY;
    par->se_cmd |= SE_CMDF_REPLY;
    par->se_aux = m.error;
  }
  msg->sm_msgid = m.msgid;
  if (!m.service.empty()) PutString(par, kElmService, m.service);
  if (!m.node.empty()) PutString(par, kElmNode, m.node);
  if (m.has_timeout) PutScalar(par, kElmTimeoutMs, m.timeout_ms);
  if (m.sessid != 0) PutScalar(par, kElmSessid, m.sessid);
  if (m.kind != 0) PutScalar(par, kElmKind, m.kind);
  if (m.peer_pid != 0) PutScalar(par, kElmPeerPid, m.peer_pid);
  if (m.peer_uid >= 0) PutScalar(par, kElmPeerUid, m.peer_uid);
  if (m.why != 0) PutScalar(par, kElmWhy, m.why);
  if (m.has_offset) PutScalar(par, kElmOffset, m.offset);
  if (m.length != 0) PutScalar(par, kElmLength, m.length);
  if (m.access != 0) PutScalar(par, kElmAccess, m.access);
  if (m.node_id != 0) PutScalar(par, kElmNodeId, m.node_id);
  if (m.slot != 0) PutScalar(par, kElmSlot, m.slot);
  if (m.generation != 0) PutScalar(par, kElmGeneration, m.generation);
  if (m.secret != 0) PutScalar(par, kElmSecret, m.secret);
  sl_msg_fini(msg);
  return SL_MSG_ALIGN(msg->sm_bytes);
}

int Decode(void* buf, size_t len, Message* out) {
  if (sl_msg_validate(buf, len) != 0) return EINVAL;
  auto* msg = static_cast<struct syslink_msg*>(buf);
  if (msg->sm_proto == SMPROTO_PAD) return EINVAL;
  if ((msg->sm_proto & ~SM_PROTO_REPLY) != SMPROTO_MESHCTL) return EINVAL;
  Message m;
  m.reply = msg->sm_proto & SM_PROTO_REPLY;
  m.msgid = msg->sm_msgid;
  const sl_cmd_t op = msg->sm_head.se_cmd & SE_CMD_MASK;
  if (op < static_cast<sl_cmd_t>(Op::kListen) ||
      op > static_cast<sl_cmd_t>(Op::kRegionDeregister)) {
    return EINVAL;
  }
  m.op = static_cast<Op>(op);
  if (m.reply) m.error = msg->sm_head.se_aux;
  unsigned seen = 0;
  if (msg->sm_head.se_cmd & SE_CMDF_STRUCTURED) {
    struct syslink_elm* e;
    SL_FOREACH_ELEMENT(&msg->sm_head, e) {
      const size_t n = e->se_bytes - SL_MIN_ELM_SIZE;
      const char* data = reinterpret_cast<const char*>(e + 1);
      const sl_cmd_t id = e->se_cmd & ~(SE_CMDF_UNTRANSLATED | SE_CMDF_GLOBAL);
      const unsigned bit = 1u << (id & 31);
      switch (id) {
        case kElmService:
        case kElmNode:
        case kElmTimeoutMs:
        case kElmSessid:
        case kElmKind:
        case kElmPeerPid:
        case kElmPeerUid:
        case kElmWhy:
        case kElmOffset:
        case kElmLength:
        case kElmAccess:
        case kElmNodeId:
        case kElmSlot:
        case kElmGeneration:
        case kElmSecret:
          if (seen & bit) return EINVAL;  // each at most once
          seen |= bit;
          break;
        default:
          continue;  // unknown: skipped
      }
      switch (id) {
        case kElmService:
          if (n >= SYSLINK_NAME_MAX) return EINVAL;
          m.service.assign(data, n);
          break;
        case kElmNode:
          if (n >= SYSLINK_NAME_MAX) return EINVAL;
          m.node.assign(data, n);
          break;
        case kElmTimeoutMs:
          m.has_timeout = true;
          memcpy(&m.timeout_ms, data, 4);
          break;
        case kElmSessid:
          memcpy(&m.sessid, data, 8);
          break;
        case kElmKind:
          memcpy(&m.kind, data, 4);
          break;
        case kElmPeerPid:
          memcpy(&m.peer_pid, data, 4);
          break;
        case kElmPeerUid:
          memcpy(&m.peer_uid, data, 4);
          break;
        case kElmWhy:
          memcpy(&m.why, data, 4);
          break;
        case kElmOffset:
          m.has_offset = true;
          memcpy(&m.offset, data, 8);
          break;
        case kElmLength:
          memcpy(&m.length, data, 8);
          break;
        case kElmAccess:
          memcpy(&m.access, data, 4);
          break;
        case kElmNodeId:
          memcpy(&m.node_id, data, 8);
          break;
        case kElmSlot:
          memcpy(&m.slot, data, 4);
          break;
        case kElmGeneration:
          memcpy(&m.generation, data, 4);
          break;
        case kElmSecret:
          memcpy(&m.secret, data, 8);
          break;
      }
    }
  }
  if (!ValidString(m.service, true) || !ValidString(m.node, true)) return EINVAL;
  if (!m.reply) {
    switch (m.op) {
      case Op::kListen:
        if (m.service.empty()) return EINVAL;
        break;
      case Op::kConnect:
        if (m.service.empty()) return EINVAL;
        break;
      case Op::kRegionRegister:
        // The bounds of meshd's limits are meshd's business; these are
        // the shapes no limit makes valid.
        if (!m.has_offset || m.length == 0 || m.access == 0 || (m.access & ~3u) != 0 ||
            m.offset + m.length < m.offset) {
          return EINVAL;
        }
        break;
      case Op::kRegionDeregister:
        if (m.slot == 0 || m.generation == 0) return EINVAL;
        break;
      case Op::kSessionOpen:
        if (m.sessid == 0 || (m.kind != static_cast<uint32_t>(Kind::kDirect) &&
                              m.kind != static_cast<uint32_t>(Kind::kRelayed))) {
          return EINVAL;
        }
        break;
      case Op::kSessionEnded:
        if (m.sessid == 0) return EINVAL;
        break;
    }
  }
  *out = std::move(m);
  return 0;
}

int Send(int fd, const Message& m, int pass_fd) {
  alignas(8) unsigned char buf[SL_MAXSIZE];
  const size_t len = Encode(m, buf);
  struct iovec v = {buf, len};
  struct msghdr mh = {};
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) return 0;
    if (errno == EINTR) continue;
    return (errno == ECONNRESET || errno == ENOTCONN) ? EPIPE : errno;
  }
}

int Receive(int fd, int flags, Message* m, common::UniqueFd* got_fd) {
  alignas(8) unsigned char buf[SL_MAXSIZE + 8];
  struct iovec v = {buf, sizeof buf};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr mh = {};
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  ssize_t n;
  do {
    n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && (errno == EINTR || errno == ECONNRESET));
  if (n < 0) return errno;
  int fds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (fds++ == 0 && got_fd != nullptr) {
        got_fd->reset(got);
      } else {
        close(got);
      }
    }
  }
  if (n == 0) return EPIPE;  // end-of-file (control peers never send empty records)
  if (fds > 1 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
      static_cast<size_t>(n) > SL_MAXSIZE) {
    if (got_fd != nullptr) got_fd->reset();
    return EINVAL;
  }
  const int err = Decode(buf, static_cast<size_t>(n), m);
  if (err != 0 && got_fd != nullptr) got_fd->reset();
  return err;
}

}  // namespace ctl
}  // namespace libsyslink
