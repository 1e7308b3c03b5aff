// Fuzzes DecodeRelay(), meshd's check of every relay frame from a peer node.
// Properties: no crash, no read outside the input; an accepted kMsg frame's
// views lie inside the payload and re-encode to the same bytes.
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
    if (meshd::EncodeMsg(f.sessid, f.flags, f.msg, f.dma, f.dmar_room) != payload) std::abort();
  }
  return 0;
}
