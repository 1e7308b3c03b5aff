// Relay frames: the payload of the mesh's DATA frames, carrying sessions
// between nodes (docs/protocol.md §4).
//
// Every relay frame starts with a 16-byte little-endian header:
//
//   u8  type      kOpen, kOpenReply, kMsg, kCredit, kClose
//   u8  flags     kMsg/kCredit: kToClient (else toward the service)
//   u16 reserved  0
//   u32 value     kOpenReply: errno; kCredit and kMsg: bytes credited back
//                 to the receiver's window (kMsg: 0 for none); kClose: why
//   u64 sessid
//
// followed by, for
//   kOpen:  a RelayOpen protobuf (proto/relay.proto)
//   kMsg:   a 16-byte MsgMeta {u32 dma_bytes, u32 dmar_room, u16 msg_len,
//           u16 reserved, u32 reserved}, then dma_bytes of DMA data, then
//           msg_len bytes of syslink message.
//   others: nothing.
//
// A session is a virtual circuit: kOpen is routed by destination node and
// leaves state at each hop; everything else follows that state.
#ifndef MESHD_RELAY_RELAY_FRAME_H_
#define MESHD_RELAY_RELAY_FRAME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/relay.pb.h"

namespace meshd {

enum class RelayType : uint8_t {
  kOpen = 1,
  kOpenReply = 2,
  kMsg = 3,
  kCredit = 4,
  kClose = 5,
};

inline constexpr uint8_t kToClient = 0x01;
// A session window an OPEN may announce (mesh.max_session_inflight_bytes).
inline constexpr uint32_t kMinWindowBytes = 256u << 10;
inline constexpr uint32_t kMaxWindowBytes = 1u << 30;
inline constexpr size_t kRelayHeaderBytes = 16;
inline constexpr size_t kMsgMetaBytes = 16;
inline constexpr size_t kMsgDmaOffset = kRelayHeaderBytes + kMsgMetaBytes;

struct RelayFrame {
  RelayType type = RelayType::kClose;
  uint8_t flags = 0;
  uint32_t value = 0;
  uint64_t sessid = 0;
  // kOpen
  relay::RelayOpen open;
  // kMsg: views into the decoded payload
  uint32_t dma_bytes = 0;
  uint32_t dmar_room = 0;
  std::string_view dma;
  std::string_view msg;
};

// Encoders. EncodeMsg lays out header, meta, DMA data and message; CREDIT
// rides in the header's value (flow control piggybacked on the messages
// going the other way, as TCP does with acks).
std::string EncodeOpen(uint64_t sessid, const relay::RelayOpen& open);
std::string EncodeControl(RelayType type, uint64_t sessid, uint32_t value, uint8_t flags = 0);
std::string EncodeMsg(uint64_t sessid, uint8_t flags, std::string_view msg,
                      std::string_view dma, uint32_t dmar_room, uint32_t credit = 0);
// Fills in header and meta of a kMsg FRAME whose DMA data (DMA_BYTES) was
// already written at kMsgDmaOffset, then appends MSG. FRAME must have been
// sized to at least kMsgDmaOffset + DMA_BYTES.
void FinishMsg(std::string* frame, uint64_t sessid, uint8_t flags, std::string_view msg,
               uint32_t dma_bytes, uint32_t dmar_room, uint32_t credit = 0);

// The first kMsgDmaOffset bytes of a kMsg frame (header and meta), for a
// sender that sends the DMA_BYTES of data and the MSG_LEN-byte message
// after them from where they are.
std::string EncodeMsgHead(uint64_t sessid, uint8_t flags, size_t msg_len, uint32_t dma_bytes,
                          uint32_t dmar_room, uint32_t credit);

// From the first bytes of a frame's payload (FIRST): if it is a kMsg and
// FIRST holds its header and meta, sets its sessid, flags and DMA length
// and returns true. Nothing is validated beyond that.
bool PeekMsg(std::string_view first, uint64_t* sessid, uint8_t* flags, uint32_t* dma_bytes);

// Decodes PAYLOAD (which must outlive OUT's views). Checks the type, the
// reserved fields, the sizes (dma_bytes and dmar_room at most SL_DMA_MAX,
// msg_len at most SL_MAXSIZE, lengths adding up exactly), sessid != 0, and
// kOpen's protobuf (names valid, node ids nonzero). Does not validate the
// syslink message itself (the receiving Link does). Returns false if
// malformed.
bool DecodeRelay(std::string_view payload, RelayFrame* out);
// The same for a kMsg frame received split: REST is the payload without
// its DMA data (header, meta, message), DMA the data, received elsewhere.
// OUT's dma views DMA.
bool DecodeRelaySplit(std::string_view rest, std::string_view dma, RelayFrame* out);

}  // namespace meshd

#endif  // MESHD_RELAY_RELAY_FRAME_H_
