// The local frame: how one syslink message travels over a local link.
//
// A local link is an AF_UNIX SOCK_SEQPACKET socket pair. Each packet is one
// LocalFrame header followed by exactly one message (SL_MSG_ALIGN(sm_bytes)
// bytes, at most SL_MAXSIZE). DMA data never rides in the packet; the header
// says how it travels (the carrier) and at most one descriptor is attached
// with SCM_RIGHTS:
//
//   carrier   attached fd      meaning
//   kNone     none             no data; a command may still offer DMAR room
//   kPipe     pipe read end    dma_bytes of data in the pipe (write end closed)
//   kMemfd    sealed memfd     the originator's buffer, at dma_offset: DMAW
//             (or none, see    data is there, and a DMAR reply may be written
//             dma_buffer)      there directly (fd O_RDWR). With kFlagCopy it
//                              is instead a one-off memfd holding a copy of
//                              the data (the fallback when no pipe of the
//                              size can be made): read it, do not map it.
//
// dma_buffer names a syslink_dma_alloc() buffer so that its descriptor
// crosses a link once: the first frame that uses buffer N on a link carries
// the memfd (the receiver keeps it, per link, under N); later frames carry
// only N. A frame naming a buffer the receiver does not know, without the
// descriptor, is refused (the library answers the command with ESTALE).
// dma_buffer 0 means "this descriptor, this once". A bare frame with
// kFlagForget says buffer N was freed: forget it.
//   kDirect   none             reply only: dma_bytes were written straight
//                              into the originator's memfd (sent as kMemfd)
//
// A packet may also be a bare goodbye frame (kFlagGoodbye, below).
//
// Local links never leave the host, so the header is in host byte order.
// Every field is checked by the receiver (see Link::Accept in link.cc).
// docs/protocol.md describes the same thing for humans.
#ifndef LIBSYSLINK_FRAME_H_
#define LIBSYSLINK_FRAME_H_

#include <cstdint>

namespace libsyslink {

enum class Carrier : uint8_t {
  kNone = 0,
  kPipe = 1,
  kMemfd = 2,
  kDirect = 3,
};

struct LocalFrame {
  static constexpr uint32_t kMagic = 0x314b4c53;  // "SLK1"

  static constexpr uint8_t kFlagCopy = 0x01;
  // A goodbye: a frame with no message, carrier kNone, dma_room = an errno.
  // The sender (meshd, relaying a session) says why the link is about to
  // end; the receiver uses it as the se_aux of the replies it synthesizes
  // at end-of-file (EHOSTUNREACH: the far node failed, ECONNRESET: the far
  // process died, ECONNABORTED: meshd is going away).
  static constexpr uint8_t kFlagGoodbye = 0x02;
  // A forget: a frame with no message, carrier kNone, dma_buffer = N.
  static constexpr uint8_t kFlagForget = 0x04;
  static constexpr uint8_t kKnownFlags = kFlagCopy | kFlagGoodbye | kFlagForget;

  uint32_t magic;
  Carrier carrier;
  uint8_t flags;
  uint16_t reserved;     // zero
  uint32_t dma_bytes;    // data carried (DMAW command, or reply data)
  uint32_t dma_room;     // DMAR command: most bytes the reply may return
  uint64_t dma_offset;   // kMemfd: offset of the buffer in the memfd
  uint64_t dma_buffer;   // kMemfd: the sender's buffer id, or 0 (see above)
};
static_assert(sizeof(LocalFrame) == 32, "LocalFrame is 32 bytes");

}  // namespace libsyslink

#endif  // LIBSYSLINK_FRAME_H_
