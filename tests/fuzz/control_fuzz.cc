// Fuzzes ctl::Decode(), meshd's check of every request on its client socket.
//
// Properties: it never crashes or reads outside the input; a decoded message
// has valid names, and encoding it again and decoding that gives the same
// message (nothing accepted is lost or invented).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "libsyslink/control.h"
#include "libsyslink/names.h"

using libsyslink::ctl::Message;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  Message m;
  if (libsyslink::ctl::Decode(buf.data(), size, &m) != 0) return 0;
  if (!libsyslink::ValidName(m.service, true) || !libsyslink::ValidName(m.node, true)) {
    std::abort();
  }
  alignas(8) unsigned char again[SL_MAXSIZE];
  const size_t len = libsyslink::ctl::Encode(m, again);
  Message m2;
  if (libsyslink::ctl::Decode(again, len, &m2) != 0) std::abort();
  if (m2.op != m.op || m2.reply != m.reply || m2.msgid != m.msgid || m2.error != m.error ||
      m2.service != m.service || m2.node != m.node || m2.sessid != m.sessid ||
      m2.kind != m.kind || m2.has_timeout != m.has_timeout ||
      m2.timeout_ms != m.timeout_ms || m2.why != m.why || m2.has_offset != m.has_offset ||
      m2.offset != m.offset || m2.length != m.length || m2.access != m.access ||
      m2.node_id != m.node_id || m2.slot != m.slot || m2.generation != m.generation ||
      m2.secret != m.secret) {
    std::abort();
  }
  return 0;
}
