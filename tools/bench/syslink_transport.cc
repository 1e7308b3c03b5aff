#include "tools/bench/syslink_transport.h"

#include <errno.h>
#include <string.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "syslink/syslink.h"
#include "tools/bench/bulk.h"
#include "tools/bench/syslink_io.h"

namespace bench {
namespace {

// A syslink pair made in the orchestrator: fds[0] is the server's end,
// fds[1] the client's.
class SyslinkPair {
 public:
  SyslinkPair() = default;
  SyslinkPair(const SyslinkPair&) = delete;
  SyslinkPair& operator=(const SyslinkPair&) = delete;
  ~SyslinkPair() { CloseBoth(); }

  absl::Status Create() {
    struct syslink_info_new info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    if (syslink(SYSLINK_CMD_NEW, &info.head, sizeof info) != 0) {
      return ErrnoStatus("syslink(SYSLINK_CMD_NEW)", errno);
    }
    fds_[0] = info.fds[0];
    fds_[1] = info.fds[1];
    return absl::OkStatus();
  }
  // Keeps one end (0: server, 1: client), closing the other; returns it.
  int Keep(int side) {
    Close(1 - side);
    return fds_[side];
  }
  void CloseBoth() {
    Close(0);
    Close(1);
  }

 private:
  void Close(int side) {
    if (fds_[side] >= 0) syslink_close(fds_[side]);
    fds_[side] = -1;
  }
  int fds_[2] = {-1, -1};
};

class SyslinkEcho : public Transport {
 public:
  explicit SyslinkEcho(size_t bytes) : bytes_(bytes) {}

  absl::Status Prepare() override { return pair_.Create(); }
  void CloseInParent() override { pair_.CloseBoth(); }

  absl::Status Serve(ServerContext& ctx) override {
    const int fd = pair_.Keep(0);
    absl::Status s = ctx.Ready();
    MsgBuffer m;
    while (s.ok()) {
      absl::StatusOr<size_t> n = ReadMessage(fd, &m, nullptr, 0);
      if (!n.ok()) return n.status();
      if (*n == 0) break;  // the client is gone
      EchoReply(&m);
      s = WriteMessage(fd, m, nullptr, 0);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    return NewSyslinkMsgClient(pair_.Keep(1), bytes_);
  }

 private:
  const size_t bytes_;
  SyslinkPair pair_;
};

class SyslinkDmaWrite : public Transport {
 public:
  SyslinkDmaWrite(size_t bytes, int window, DmaBufferKind kind, DmaReceive receive)
      : bytes_(bytes), window_(window), kind_(kind), receive_(receive) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || bytes_ > SL_DMA_MAX || window_ < 1) {
      return absl::InvalidArgumentError("bad DMA size or window");
    }
    return pair_.Create();
  }
  void CloseInParent() override { pair_.CloseBoth(); }

  absl::Status Serve(ServerContext& ctx) override {
    const int fd = pair_.Keep(0);
    // Where the data lands: one plain buffer (copied), or syslink_dma_alloc
    // buffers with map mode on: one for everything, or a ring matching the
    // originator's (slot id % window) so the same views come back.
    ReceiveBuffers slots;
    if (absl::Status s = slots.Init(receive_, bytes_, window_, fd); !s.ok()) return s;
    absl::Status s = ctx.Ready();
    MsgBuffer m;
    bool first = true;
    while (s.ok()) {
      unsigned char* data = slots.Next();
      absl::StatusOr<size_t> n = ReadMessage(fd, &m, data, bytes_);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      if (syslink_dma_bytes() != bytes_) {
        return absl::DataLossError(
            absl::StrCat("DMAW brought ", syslink_dma_bytes(), " bytes, expected ", bytes_));
      }
      s = CheckBulk(data, bytes_, m.msg.sm_msgid, first);
      first = false;
      if (!s.ok()) return s;
      sl_msg_init_reply(&m.msg, &m.msg, 0);
      sl_msg_fini(&m.msg);
      s = WriteMessage(fd, m, nullptr, 0);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    const int fd = pair_.Keep(1);
    auto slots = std::make_unique<BufferRing>(kind_, bytes_, window_);
    if (!slots->ok()) return ErrnoStatus("allocating DMA buffers", errno);
    // The library's DMA quota must let the whole window be outstanding.
    const size_t dma_quota = bytes_ * static_cast<size_t>(window_);
    if (dma_quota > SYSLINK_DMA_QUOTA_DEFAULT && syslink_set_quota(fd, 0, dma_quota) != 0) {
      return ErrnoStatus("syslink_set_quota", errno);
    }
    return NewSyslinkDmaClient(fd, std::move(slots));
  }

 private:
  const size_t bytes_;
  const int window_;
  const DmaBufferKind kind_;
  const DmaReceive receive_;
  SyslinkPair pair_;
};

}  // namespace

std::unique_ptr<Transport> NewSyslinkEcho(size_t bytes) {
  return std::make_unique<SyslinkEcho>(bytes);
}

std::unique_ptr<Transport> NewSyslinkDmaWrite(size_t bytes, int window, DmaBufferKind kind,
                                              DmaReceive receive) {
  return std::make_unique<SyslinkDmaWrite>(bytes, window, kind, receive);
}

}  // namespace bench
