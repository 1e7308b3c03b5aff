// sl_msg_validate(): the receiver's conformance check (SPEC §3.1).
//
// Two passes over the message. The first checks every rule reading fields
// through a byte-order-aware accessor and writes nothing, so a rejected
// message is left exactly as it was. The second, only for an accepted
// message in reversed byte order, swaps it in place.
//
// Unlike DragonFly's syslink_validate_elm(), the children of a structured
// element are bounded by that element's own se_bytes (DragonFly bounded them
// by the parent's remaining budget), and all arithmetic is on size_t, so no
// 16-bit budget can wrap.

#include <errno.h>
#include <string.h>

#include <cstdint>

#include "syslink/syslink.h"

namespace {

inline uint16_t Swap16(uint16_t v) { return __builtin_bswap16(v); }
inline uint32_t Swap32(uint32_t v) { return __builtin_bswap32(v); }
inline uint64_t Swap64(uint64_t v) { return __builtin_bswap64(v); }

// Reads fields of a message in the sender's byte order. The buffer may be
// unaligned (fuzzers, packed streams), so every access goes through memcpy.
class Fields {
 public:
  Fields(unsigned char* base, bool reversed) : base_(base), reversed_(reversed) {}

  uint16_t U16(size_t off) const {
    uint16_t v;
    memcpy(&v, base_ + off, sizeof v);
    return reversed_ ? Swap16(v) : v;
  }
  uint32_t U32(size_t off) const {
    uint32_t v;
    memcpy(&v, base_ + off, sizeof v);
    return reversed_ ? Swap32(v) : v;
  }
  uint64_t U64(size_t off) const {
    uint64_t v;
    memcpy(&v, base_ + off, sizeof v);
    return reversed_ ? Swap64(v) : v;
  }
  void Put16(size_t off, uint16_t v) { memcpy(base_ + off, &v, sizeof v); }
  void Put32(size_t off, uint32_t v) { memcpy(base_ + off, &v, sizeof v); }
  void Put64(size_t off, uint64_t v) { memcpy(base_ + off, &v, sizeof v); }

 private:
  unsigned char* base_;
  bool reversed_;
};

constexpr size_t kHeadOffset = offsetof(struct syslink_msg, sm_head);

// Checks the array of elements in [off, off + len). DEPTH is how many more
// structured levels may open. TOP_HEAD says the first element is sm_head,
// whose ASIZE bits mean DMAR/DMAW instead of a size.
int CheckElements(const Fields& f, size_t off, size_t len, int depth,
                  bool top_head) {
  const size_t end = off + len;
  bool head = top_head;
  for (size_t pos = off; pos < end;) {
    const size_t left = end - pos;
    if (left < SL_MIN_ELM_SIZE) return EINVAL;
    const uint16_t cmd = f.U16(pos + offsetof(struct syslink_elm, se_cmd));
    const size_t bytes = f.U16(pos + offsetof(struct syslink_elm, se_bytes));
    if (bytes < SL_MIN_ELM_SIZE || bytes > left) return EINVAL;
    if (!head) {
      size_t want;
      switch (cmd & SE_CMDF_ASIZEMASK) {
        case SE_CMDF_ASIZE0: want = 0; break;
        case SE_CMDF_ASIZE4: want = 4; break;
        case SE_CMDF_ASIZE8: want = 8; break;
        default: want = SIZE_MAX; break;
      }
      if (want != SIZE_MAX && bytes != SL_MIN_ELM_SIZE + want) return EINVAL;
    }
    if (cmd & SE_CMDF_STRUCTURED) {
      if (depth <= 0) return EINVAL;
      const int err = CheckElements(f, pos + SL_MIN_ELM_SIZE,
                                    bytes - SL_MIN_ELM_SIZE, depth - 1, false);
      if (err != 0) return err;
    }
    head = false;
    pos += SL_MSG_ALIGN(bytes);  // may step past an unaligned end: loop ends
  }
  return 0;
}

// Swaps the element headers in [off, off + len) of an already validated
// message, recursively, flipping SE_CMDF_UNTRANSLATED in each.
void SwapElements(Fields& f, size_t off, size_t len) {
  const size_t end = off + len;
  for (size_t pos = off; pos < end;) {
    const uint16_t cmd = f.U16(pos + offsetof(struct syslink_elm, se_cmd));
    const uint16_t bytes = f.U16(pos + offsetof(struct syslink_elm, se_bytes));
    const uint32_t aux = f.U32(pos + offsetof(struct syslink_elm, se_aux));
    f.Put16(pos + offsetof(struct syslink_elm, se_cmd),
            static_cast<uint16_t>(cmd ^ SE_CMDF_UNTRANSLATED));
    f.Put16(pos + offsetof(struct syslink_elm, se_bytes), bytes);
    f.Put32(pos + offsetof(struct syslink_elm, se_aux), aux);
    if (cmd & SE_CMDF_STRUCTURED) {
      SwapElements(f, pos + SL_MIN_ELM_SIZE, bytes - SL_MIN_ELM_SIZE);
    }
    pos += SL_MSG_ALIGN(static_cast<size_t>(bytes));
  }
}

// Swaps the message header fields that lie within SM_BYTES.
void SwapHeader(Fields& f, size_t sm_bytes) {
  f.Put16(offsetof(struct syslink_msg, sm_proto),
          f.U16(offsetof(struct syslink_msg, sm_proto)));
  f.Put16(offsetof(struct syslink_msg, sm_bytes),
          f.U16(offsetof(struct syslink_msg, sm_bytes)));
  f.Put32(offsetof(struct syslink_msg, sm_rlabel),
          f.U32(offsetof(struct syslink_msg, sm_rlabel)));
  if (sm_bytes >= offsetof(struct syslink_msg, sm_sessid)) {
    f.Put64(offsetof(struct syslink_msg, sm_msgid),
            f.U64(offsetof(struct syslink_msg, sm_msgid)));
  }
  if (sm_bytes >= kHeadOffset) {
    f.Put64(offsetof(struct syslink_msg, sm_sessid),
            f.U64(offsetof(struct syslink_msg, sm_sessid)));
  }
}

}  // namespace

extern "C" int sl_msg_validate(void* msg, size_t bytes) {
  if (msg == nullptr) return EINVAL;
  if (bytes > SL_MAXSIZE) return EFBIG;
  if (bytes < SL_MIN_PAD_SIZE) return EINVAL;

  auto* base = static_cast<unsigned char*>(msg);
  uint16_t raw_proto;
  memcpy(&raw_proto, base, sizeof raw_proto);
  bool reversed;
  switch (raw_proto & (SM_PROTO_ENDIAN_NORM | SM_PROTO_ENDIAN_REV)) {
    case SM_PROTO_ENDIAN_NORM: reversed = false; break;
    case SM_PROTO_ENDIAN_REV: reversed = true; break;
    default: return EINVAL;  // neither marker, or both
  }
  Fields f(base, reversed);
  const uint16_t proto = f.U16(offsetof(struct syslink_msg, sm_proto));
  const size_t sm_bytes = f.U16(offsetof(struct syslink_msg, sm_bytes));
  if (sm_bytes > SL_MAXSIZE) return EFBIG;
  if (bytes != SL_MSG_ALIGN(sm_bytes)) return EINVAL;

  if (proto == SMPROTO_PAD) {
    if (sm_bytes < SL_MIN_PAD_SIZE) return EINVAL;
    if (reversed) SwapHeader(f, sm_bytes);
    return 0;
  }

  if (sm_bytes < SL_MIN_MSG_SIZE) return EINVAL;
  if (proto & SM_PROTO_RESERVED) return EINVAL;
  if (SM_PROTO_DECODE(proto) == 0) return EINVAL;  // PAD with the reply bit
  const uint16_t head_cmd = f.U16(kHeadOffset);
  if (((proto & SM_PROTO_REPLY) != 0) != ((head_cmd & SE_CMDF_REPLY) != 0)) {
    return EINVAL;
  }
  const int err =
      CheckElements(f, kHeadOffset, sm_bytes - kHeadOffset, SL_MAXDEPTH, true);
  if (err != 0) return err;

  if (reversed) {
    SwapElements(f, kHeadOffset, sm_bytes - kHeadOffset);
    SwapHeader(f, sm_bytes);
  }
  return 0;
}
