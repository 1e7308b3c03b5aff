#include "libsyslink/region_wire.h"

#include <errno.h>
#include <string.h>

namespace libsyslink {
namespace region {

size_t EncodeRequest(const Request& r, void* buf) {
  auto* msg = static_cast<struct syslink_msg*>(buf);
  const sl_cmd_t dma = r.op == Op::kRead ? SE_CMDF_DMAR : SE_CMDF_DMAW;
  struct syslink_elm* par =
      sl_msg_init_cmd(msg, SMPROTO_REGION, static_cast<sl_cmd_t>(static_cast<sl_cmd_t>(r.op) | dma));
  msg->sm_msgid = r.msgid;
  struct syslink_elm* e = sl_elm_make(par, kElmKey, sizeof r.key);
  memcpy(e + 1, &r.key, sizeof r.key);
  e = sl_elm_make(par, kElmOffset, sizeof r.offset);
  memcpy(e + 1, &r.offset, sizeof r.offset);
  sl_msg_fini(msg);
  return SL_MSG_ALIGN(msg->sm_bytes);
}

int DecodeRequest(const void* buf, size_t len, Request* out) {
  if (len < SL_MIN_MSG_SIZE) return EINVAL;
  // Elements are walked in place: the message is the caller's, aligned.
  auto* msg = static_cast<struct syslink_msg*>(const_cast<void*>(buf));
  if (msg->sm_proto != SMPROTO_REGION) return EINVAL;  // (no reply bit either)
  const sl_cmd_t cmd = msg->sm_head.se_cmd;
  Request r;
  r.msgid = msg->sm_msgid;
  const sl_cmd_t dma = cmd & (SE_CMDF_DMAR | SE_CMDF_DMAW);
  switch (cmd & SE_CMD_MASK) {
    case static_cast<sl_cmd_t>(Op::kRead):
      if (dma != SE_CMDF_DMAR) return EINVAL;
      r.op = Op::kRead;
      break;
    case static_cast<sl_cmd_t>(Op::kWrite):
      if (dma != SE_CMDF_DMAW) return EINVAL;
      r.op = Op::kWrite;
      break;
    default:
      return EINVAL;
  }
  if (!(cmd & SE_CMDF_STRUCTURED)) return EINVAL;
  bool have_key = false, have_offset = false;
  struct syslink_elm* e;
  SL_FOREACH_ELEMENT(&msg->sm_head, e) {
    const size_t n = e->se_bytes - SL_MIN_ELM_SIZE;
    const sl_cmd_t id = e->se_cmd & ~SE_CMDF_UNTRANSLATED;
    if (id == kElmKey && !have_key && n == sizeof r.key) {
      memcpy(&r.key, e + 1, sizeof r.key);
      have_key = true;
    } else if (id == kElmOffset && !have_offset) {  // ASIZE8: 8 bytes, validated
      memcpy(&r.offset, e + 1, sizeof r.offset);
      have_offset = true;
    } else {
      return EINVAL;  // unknown, repeated or mis-sized
    }
  }
  if (!have_key || !have_offset) return EINVAL;
  *out = r;
  return 0;
}

}  // namespace region
}  // namespace libsyslink
