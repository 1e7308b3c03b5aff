#include "tools/bench/bulk.h"

#include <errno.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "syslink/syslink.h"

namespace bench {
namespace {

unsigned char PatternByte(size_t i) { return static_cast<unsigned char>(i * 131 + 7); }

}  // namespace

void FillPattern(unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = PatternByte(i);
}

void Stamp(unsigned char* p, size_t n, uint64_t id) {
  memcpy(p, &id, sizeof id);
  memcpy(p + n - sizeof id, &id, sizeof id);
}

BufferRing::BufferRing(DmaBufferKind kind, size_t bytes, int window) : kind_(kind), bytes_(bytes) {
  for (int i = 0; i < window; i++) {
    unsigned char* p = nullptr;
    if (kind == DmaBufferKind::kDmaAlloc) {
      p = static_cast<unsigned char*>(syslink_dma_alloc(bytes));
    } else {
      plain_.push_back(std::make_unique<AlignedBuffer>(bytes));
      p = plain_.back()->data();
    }
    if (p == nullptr) return;
    FillPattern(p, bytes);
    bufs_.push_back(p);
  }
  ok_ = window > 0;
}

BufferRing::~BufferRing() {
  if (kind_ == DmaBufferKind::kDmaAlloc) {
    for (unsigned char* p : bufs_) syslink_dma_free(p);
  }
}

absl::Status ReceiveBuffers::Init(DmaReceive receive, size_t bytes, int window, int fd) {
  if (receive == DmaReceive::kCopy) {
    plain_ = std::make_unique<AlignedBuffer>(bytes);
    if (!plain_->ok()) return absl::ResourceExhaustedError("no memory for the DMA buffer");
    slots_.push_back(plain_->data());
    return absl::OkStatus();
  }
  dma_alloc_ = true;
  const int n = receive == DmaReceive::kMapRing ? window : 1;
  for (int i = 0; i < n; i++) {
    void* b = syslink_dma_alloc(bytes);
    if (b == nullptr) return ErrnoStatus("syslink_dma_alloc", errno);
    slots_.push_back(static_cast<unsigned char*>(b));
  }
  if (syslink_set_dma_map(fd, 1) != 0) return ErrnoStatus("syslink_set_dma_map", errno);
  return absl::OkStatus();
}

ReceiveBuffers::~ReceiveBuffers() {
  if (dma_alloc_) {
    for (unsigned char* p : slots_) syslink_dma_free(p);
  }
}

absl::Status CheckBulk(const unsigned char* p, size_t n, uint64_t id, bool full) {
  uint64_t head, tail;
  memcpy(&head, p, sizeof head);
  memcpy(&tail, p + n - sizeof tail, sizeof tail);
  if (head != id || tail != id) {
    return absl::DataLossError(
        absl::StrCat("transfer ", id, " arrived stamped ", head, " and ", tail));
  }
  if (full) {
    for (size_t i = sizeof head; i < n - sizeof tail; i++) {
      if (p[i] != PatternByte(i)) {
        return absl::DataLossError(absl::StrCat("transfer ", id, " differs at byte ", i));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace bench
