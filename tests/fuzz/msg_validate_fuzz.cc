// Fuzzes sl_msg_validate(), the check every receiver runs on every message.
//
// Properties: it returns 0, EINVAL or EFBIG; a rejection leaves the bytes
// unchanged; an accepted message is in host order afterwards, so validating
// it again succeeds and changes nothing; and (ASan) it never reads outside
// the input.

#include <errno.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "syslink/syslink.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> msg(data, data + size);
  std::vector<uint8_t> orig(msg);
  const int err = sl_msg_validate(size ? msg.data() : nullptr, size);
  if (err != 0 && err != EINVAL && err != EFBIG) std::abort();
  if (err != 0) {
    if (msg != orig) std::abort();
    return 0;
  }
  sl_proto_t proto;
  std::memcpy(&proto, msg.data(), sizeof proto);
  if (!(proto & SM_PROTO_ENDIAN_NORM)) std::abort();
  std::vector<uint8_t> once(msg);
  if (sl_msg_validate(msg.data(), size) != 0) std::abort();
  if (msg != once) std::abort();
  return 0;
}
