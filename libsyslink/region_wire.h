// One-sided region operations on the wire (protocol SMPROTO_REGION).
//
// The library opens a session to the built-in service kService on the
// region owner's node (CONNECT by node id) and sends each operation as one
// syslink command on it; meshd there answers with one reply:
//
//   op      sm_head.se_cmd         elements            DMA
//   kRead   kRead | DMAR           key, offset         reply: exactly the
//                                                      command's DMAR room
//   kWrite  kWrite | DMAW          key, offset         command: the data
//
// The length is the DMA length (the DMAR room, or the DMAW bytes), at most
// SL_DMA_MAX. The reply's sm_head.se_aux is 0 or the errno of
// syslink_region_read/write (ENOENT, EACCES, ERANGE, EINVAL for a malformed
// request). Elements: 1 key (24 bytes: struct syslink_region_key), 2 offset
// (ASIZE8). Each appears exactly once; unknown elements are refused.
// DecodeRequest() is the check meshd runs on every operation (fuzzed:
// tests/fuzz/region_fuzz.cc).
#ifndef LIBSYSLINK_REGION_WIRE_H_
#define LIBSYSLINK_REGION_WIRE_H_

#include <cstddef>
#include <cstdint>

#include "syslink/region.h"
#include "syslink/syslink.h"

namespace libsyslink {
namespace region {

// The built-in service on every meshd that performs the operations.
inline constexpr char kService[] = "meshd.regions";

enum class Op : sl_cmd_t {
  kRead = 1,
  kWrite = 2,
};

enum Elm : sl_cmd_t {
  kElmKey = 1,
  kElmOffset = 2 | SE_CMDF_ASIZE8,
};

struct Request {
  Op op = Op::kRead;
  uint64_t msgid = 0;
  struct syslink_region_key key = {};
  uint64_t offset = 0;
};

// Encodes R into BUF (at least SL_MAXSIZE bytes) with the DMA flag its op
// needs. Returns the length to send.
size_t EncodeRequest(const Request& r, void* buf);

// Decodes the LEN-byte command at MSG (already passed sl_msg_validate(), as
// every message a Link delivers has). Checks the protocol, the op and its
// DMA flag, and that each element is there exactly once with its size.
// Returns 0 or EINVAL.
int DecodeRequest(const void* msg, size_t len, Request* out);

}  // namespace region
}  // namespace libsyslink

#endif  // LIBSYSLINK_REGION_WIRE_H_
