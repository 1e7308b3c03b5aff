// Fuzzes DecodeRelay(), meshd's check of every relay frame from a peer node.
// Properties: no crash, no read outside the input; an accepted kMsg frame's
// views lie inside the payload and re-encode to the same bytes, and it
// decodes the same when received split.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "meshd/relay/relay_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string payload(reinterpret_cast<const char*>(data), size);
  meshd::RelayFrame f;
  if (!meshd::DecodeRelay(payload, &f)) return 0;
  if (f.type == meshd::RelayType::kMsg) {
    const char* lo = payload.data();
    const char* hi = lo + payload.size();
    if (f.msg.data() < lo || f.msg.data() + f.msg.size() > hi) std::abort();
    if (f.dma.data() < lo || f.dma.data() + f.dma.size() > hi) std::abort();
    if (meshd::EncodeMsg(f.sessid, f.flags, f.msg, f.dma, f.dmar_room, f.value) != payload) {
      std::abort();
    }
    // What the splitter peeks at agrees, and the frame received split (its
    // DMA data elsewhere) decodes to the same.
    uint64_t sessid;
    uint8_t flags;
    uint32_t dma_bytes;
    if (!meshd::PeekMsg(payload, &sessid, &flags, &dma_bytes) || sessid != f.sessid ||
        flags != f.flags || dma_bytes != f.dma_bytes) {
      std::abort();
    }
    const std::string dma(f.dma);
    std::string rest = payload;
    rest.erase(meshd::kMsgDmaOffset, dma.size());
    meshd::RelayFrame g;
    if (!meshd::DecodeRelaySplit(rest, dma, &g) || g.msg != f.msg || g.dma != f.dma ||
        g.value != f.value || g.dmar_room != f.dmar_room) {
      std::abort();
    }
  } else if (meshd::DecodeRelaySplit(payload, "x", &f)) {
    std::abort();  // only MSG frames are ever split
  }
  return 0;
}
