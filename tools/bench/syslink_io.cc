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

namespace {

class SyslinkMsgClient : public MsgClient {
 public:
  SyslinkMsgClient(int fd, size_t bytes) : fd_(fd) { BuildMessage(bytes, 0, &request_); }
  ~SyslinkMsgClient() override { syslink_close(fd_); }

  absl::Status Send(uint64_t id) override {
    request_.msg.sm_msgid = id;
    return WriteMessage(fd_, request_, nullptr, 0);
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<size_t> n = ReadMessage(fd_, &reply_, nullptr, 0);
    if (!n.ok()) return n.status();
    return CheckReply(reply_, *n);
  }

 private:
  const int fd_;
  MsgBuffer request_;
  MsgBuffer reply_;
};

class SyslinkDmaClient : public MsgClient {
 public:
  SyslinkDmaClient(int fd, std::unique_ptr<BufferRing> slots) : fd_(fd), slots_(std::move(slots)) {
    BuildMessage(SL_MIN_MSG_SIZE, SE_CMDF_DMAW, &command_);
  }
  ~SyslinkDmaClient() override { syslink_close(fd_); }

  absl::Status Send(uint64_t id) override {
    unsigned char* buf = slots_->For(id);
    Stamp(buf, slots_->bytes(), id);
    command_.msg.sm_msgid = id;
    return WriteMessage(fd_, command_, buf, slots_->bytes());
  }
  absl::StatusOr<uint64_t> Receive() override {
    absl::StatusOr<size_t> n = ReadMessage(fd_, &reply_, nullptr, 0);
    if (!n.ok()) return n.status();
    return CheckReply(reply_, *n);
  }

 private:
  const int fd_;
  std::unique_ptr<BufferRing> slots_;
  MsgBuffer command_;
  MsgBuffer reply_;
};

}  // namespace

std::unique_ptr<MsgClient> NewSyslinkMsgClient(int fd, size_t bytes) {
  return std::make_unique<SyslinkMsgClient>(fd, bytes);
}

std::unique_ptr<MsgClient> NewSyslinkDmaClient(int fd, std::unique_ptr<BufferRing> slots) {
  return std::make_unique<SyslinkDmaClient>(fd, std::move(slots));
}

}  // namespace bench
