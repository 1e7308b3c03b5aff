#include "meshd/relay/relay_frame.h"

#include <string.h>

#include "libsyslink/names.h"
#include "syslink/syslink.h"

namespace meshd {
namespace {

void PutU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * i));
}
uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

void PutHeader(char* p, RelayType type, uint8_t flags, uint32_t value, uint64_t sessid) {
  p[0] = static_cast<char>(type);
  p[1] = static_cast<char>(flags);
  PutU16(p + 2, 0);
  PutU32(p + 4, value);
  PutU64(p + 8, sessid);
}

}  // namespace

std::string EncodeOpen(uint64_t sessid, const relay::RelayOpen& open) {
  std::string out(kRelayHeaderBytes, '\0');
  PutHeader(out.data(), RelayType::kOpen, 0, 0, sessid);
  open.AppendToString(&out);
  return out;
}

std::string EncodeControl(RelayType type, uint64_t sessid, uint32_t value, uint8_t flags) {
  std::string out(kRelayHeaderBytes, '\0');
  PutHeader(out.data(), type, flags, value, sessid);
  return out;
}

namespace {

void PutMsgHead(char* p, uint64_t sessid, uint8_t flags, size_t msg_len, uint32_t dma_bytes,
                uint32_t dmar_room, uint32_t credit) {
  PutHeader(p, RelayType::kMsg, flags, credit, sessid);
  PutU32(p + kRelayHeaderBytes, dma_bytes);
  PutU32(p + kRelayHeaderBytes + 4, dmar_room);
  PutU16(p + kRelayHeaderBytes + 8, static_cast<uint16_t>(msg_len));
  PutU16(p + kRelayHeaderBytes + 10, 0);
  PutU32(p + kRelayHeaderBytes + 12, 0);
}

}  // namespace

std::string EncodeMsgHead(uint64_t sessid, uint8_t flags, size_t msg_len, uint32_t dma_bytes,
                          uint32_t dmar_room, uint32_t credit) {
  std::string out(kMsgDmaOffset, '\0');
  PutMsgHead(out.data(), sessid, flags, msg_len, dma_bytes, dmar_room, credit);
  return out;
}

void FinishMsg(std::string* frame, uint64_t sessid, uint8_t flags, std::string_view msg,
               uint32_t dma_bytes, uint32_t dmar_room, uint32_t credit) {
  frame->resize(kMsgDmaOffset + dma_bytes);
  PutMsgHead(frame->data(), sessid, flags, msg.size(), dma_bytes, dmar_room, credit);
  frame->append(msg.data(), msg.size());
}

std::string EncodeMsg(uint64_t sessid, uint8_t flags, std::string_view msg,
                      std::string_view dma, uint32_t dmar_room, uint32_t credit) {
  std::string out;
  out.reserve(kMsgDmaOffset + dma.size() + msg.size());
  out.resize(kMsgDmaOffset);
  out.append(dma.data(), dma.size());
  FinishMsg(&out, sessid, flags, msg, static_cast<uint32_t>(dma.size()), dmar_room, credit);
  return out;
}

namespace {

// SPLIT_DMA: a kMsg's DMA data, not in PAYLOAD (nullptr: in it).
bool Decode(std::string_view payload, const std::string_view* split_dma, RelayFrame* out) {
  if (payload.size() < kRelayHeaderBytes) return false;
  const char* p = payload.data();
  RelayFrame f;
  const uint8_t type = static_cast<uint8_t>(p[0]);
  if (type < static_cast<uint8_t>(RelayType::kOpen) ||
      type > static_cast<uint8_t>(RelayType::kClose)) {
    return false;
  }
  f.type = static_cast<RelayType>(type);
  f.flags = static_cast<uint8_t>(p[1]);
  if (GetU16(p + 2) != 0) return false;
  f.value = GetU32(p + 4);
  f.sessid = GetU64(p + 8);
  if (f.sessid == 0) return false;
  const std::string_view body = payload.substr(kRelayHeaderBytes);
  if (split_dma != nullptr && f.type != RelayType::kMsg) return false;
  switch (f.type) {
    case RelayType::kOpen: {
      if (f.flags != 0 || f.value != 0) return false;
      if (!f.open.ParseFromArray(body.data(), static_cast<int>(body.size()))) return false;
      if (f.open.src_node() == 0 || f.open.dst_node() == 0 ||
          !libsyslink::ValidName(f.open.service(), false) ||
          !libsyslink::ValidName(f.open.src_name(), false) ||
          f.open.window_bytes() < kMinWindowBytes || f.open.window_bytes() > kMaxWindowBytes) {
        return false;
      }
      break;
    }
    case RelayType::kMsg: {
      if ((f.flags & ~kToClient) != 0) return false;  // value: piggybacked credit
      if (body.size() < kMsgMetaBytes) return false;
      f.dma_bytes = GetU32(body.data());
      f.dmar_room = GetU32(body.data() + 4);
      const size_t msg_len = GetU16(body.data() + 8);
      if (GetU16(body.data() + 10) != 0 || GetU32(body.data() + 12) != 0) return false;
      if (f.dma_bytes > SL_DMA_MAX || f.dmar_room > SL_DMA_MAX || msg_len > SL_MAXSIZE ||
          msg_len < SL_MIN_PAD_SIZE) {
        return false;
      }
      const size_t dma_here = split_dma != nullptr ? 0 : f.dma_bytes;
      if (split_dma != nullptr && split_dma->size() != f.dma_bytes) return false;
      if (body.size() != kMsgMetaBytes + dma_here + msg_len) return false;
      f.dma = split_dma != nullptr ? *split_dma : body.substr(kMsgMetaBytes, f.dma_bytes);
      f.msg = body.substr(kMsgMetaBytes + dma_here, msg_len);
      break;
    }
    case RelayType::kCredit:
      if ((f.flags & ~kToClient) != 0 || !body.empty() || f.value == 0) return false;
      break;
    case RelayType::kOpenReply:
    case RelayType::kClose:
      if (f.flags != 0 || !body.empty() || f.value >= 4096) return false;
      break;
  }
  *out = std::move(f);
  return true;
}

}  // namespace

bool DecodeRelay(std::string_view payload, RelayFrame* out) {
  return Decode(payload, nullptr, out);
}

bool PeekMsg(std::string_view first, uint64_t* sessid, uint8_t* flags, uint32_t* dma_bytes) {
  if (first.size() < kMsgDmaOffset || first[0] != static_cast<char>(RelayType::kMsg)) {
    return false;
  }
  *flags = static_cast<uint8_t>(first[1]);
  *sessid = GetU64(first.data() + 8);
  *dma_bytes = GetU32(first.data() + kRelayHeaderBytes);
  return true;
}

bool DecodeRelaySplit(std::string_view rest, std::string_view dma, RelayFrame* out) {
  return Decode(rest, &dma, out);
}

}  // namespace meshd
