#include "tools/bench/syslink_io.h"

#include <errno.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "syslink/syslink.h"

namespace bench {

absl::StatusOr<size_t> ReadMessage(int fd, MsgBuffer* m, void* dma, size_t dma_bytes) {
  struct iovec iov[2] = {{m, sizeof *m}, {dma, dma_bytes}};
  for (;;) {
    const ssize_t n = syslink_readv(fd, iov, dma != nullptr ? 2 : 1);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus("syslink_readv", errno);
  }
}

absl::Status WriteMessage(int fd, const MsgBuffer& m, const void* dma, size_t dma_bytes) {
  const size_t len = SL_MSG_ALIGN(m.msg.sm_bytes);
  struct iovec iov[2] = {{const_cast<MsgBuffer*>(&m), len},
                         {const_cast<void*>(dma), dma_bytes}};
  for (;;) {
    const ssize_t n = syslink_writev(fd, iov, dma != nullptr ? 2 : 1);
    if (n == static_cast<ssize_t>(len)) return absl::OkStatus();
    if (n >= 0) return absl::DataLossError(absl::StrCat("syslink_writev wrote ", n, " of ", len));
    if (errno != EINTR) return ErrnoStatus("syslink_writev", errno);
  }
}

void EchoReply(MsgBuffer* m) {
  const struct syslink_elm* first = nullptr;
  if ((m->msg.sm_head.se_cmd & SE_CMDF_STRUCTURED) && m->msg.sm_head.se_bytes > SL_MIN_ELM_SIZE) {
    first = &m->msg.sm_head + 1;
  }
  const sl_cmd_t cmd = first != nullptr ? first->se_cmd : 0;
  const int payload = first != nullptr ? first->se_bytes - SL_MIN_ELM_SIZE : 0;
  struct syslink_elm* head = sl_msg_init_reply(&m->msg, &m->msg, 0);
  if (first != nullptr) sl_elm_make(head, cmd, payload);
  sl_msg_fini(&m->msg);
}

absl::StatusOr<uint64_t> CheckReply(const MsgBuffer& m, size_t n) {
  if (n == 0) return absl::UnavailableError("the server closed the link");
  if (!(m.msg.sm_proto & SM_PROTO_REPLY)) return absl::DataLossError("a command, not a reply");
  if (m.msg.sm_head.se_aux != 0) {
    return absl::DataLossError(
        absl::StrCat("reply error ", m.msg.sm_head.se_aux, ": ", strerror(m.msg.sm_head.se_aux)));
  }
  return m.msg.sm_msgid;
}

}  // namespace bench
