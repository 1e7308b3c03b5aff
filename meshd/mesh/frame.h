// Mesh link framing: [u32 payload length, little endian][u8 type][payload].
//
// FrameDecoder reassembles frames from a byte stream: it tells the reader
// where the next bytes go (the rest of the current frame's own std::string,
// then what follows it), so a large payload is read from the socket straight
// into its own buffer. With read-ahead on, what follows is a small buffer
// (kReadAheadBytes) from which many small frames are cut by one readv();
// off, it is just the next frame's header.
//
//   FrameDecoder dec(/*max_payload_bytes=*/1 << 20);
//   std::vector<Frame> frames;
//   for (;;) {
//     struct iovec iov[2];
//     int n = dec.NextBuffers(iov);
//     ssize_t got = readv(fd, iov, n);
//     if (got <= 0) break;
//     if (dec.Commit(got, &frames) != ProtocolError::kNone) { /* close */ }
//     for (Frame& f : frames) Handle(f.type, std::move(f.payload));
//     frames.clear();
//   }
//
// Sending: EncodeFrameHeader() writes the 5 header bytes; the payload goes
// out from its own memory (writev), see link.cc.
#ifndef MESHD_MESH_FRAME_H_
#define MESHD_MESH_FRAME_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshd/mesh/mesh_types.h"

namespace meshd {
namespace mesh {

inline constexpr size_t kFrameHeaderBytes = 5;
// What the decoder reads past the current frame with read-ahead on: small
// frames within it are copied out (never more than this of a large one).
inline constexpr size_t kReadAheadBytes = 2048;

// The frame types (proto/mesh.proto lists the message each carries).
enum class FrameType : uint8_t {
  kHello = 1,
  kAuth = 2,
  kReady = 3,
  kGoodbye = 4,
  kHeartbeat = 5,
  kLsa = 6,
  kProbe = 7,
  kData = 8,
};
inline constexpr uint8_t kMaxFrameType = 8;

// True if TYPE is one of FrameType's values.
bool IsKnownFrameType(uint8_t type);
// "hello", "auth", ..., "data"; "unknown" for anything else.
const char* FrameTypeName(FrameType type);

// Writes the header of a frame of TYPE with PAYLOAD_BYTES of payload.
void EncodeFrameHeader(FrameType type, uint32_t payload_bytes, char out[kFrameHeaderBytes]);

// Header and payload in one string (copies PAYLOAD: for tests and tools,
// not for the data path). PAYLOAD must be shorter than 4 GiB.
std::string EncodeFrame(FrameType type, std::string_view payload);

// What a sender hands over as a DATA frame's payload: its own bytes, and
// optionally, between HEAD and TAIL, bytes that live elsewhere (a client's
// DMA buffer, mapped) and that OWNER keeps alive until they are written, so
// that they go to the socket without being copied first. Converts from a
// std::string (all head).
struct DataPayload {
  DataPayload(std::string s) : head(std::move(s)) {}  // NOLINT: implicit
  DataPayload(const char* s) : head(s) {}             // NOLINT: implicit
  DataPayload(std::string h, std::string_view m, std::shared_ptr<const void> o, std::string t)
      : head(std::move(h)), mid(m), owner(std::move(o)), tail(std::move(t)) {}

  size_t size() const { return head.size() + mid.size() + tail.size(); }

  std::string head;
  std::string_view mid;
  std::shared_ptr<const void> owner;
  std::string tail;
};

// One decoded frame. Only the type and length were checked: the payload is
// whatever the peer sent.
struct Frame {
  FrameType type;
  std::string payload;
};

// An incremental frame decoder. Not thread-safe. After an error it stays
// failed: every later Commit() or Feed() returns the same error.
class FrameDecoder {
 public:
  // Frames with more than MAX_PAYLOAD_BYTES of payload are errors
  // (kFrameTooLarge).
  explicit FrameDecoder(uint32_t max_payload_bytes);

  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Changes the limit for frames whose header has not been read completely
  // yet (a frame already being read keeps the limit it was checked against).
  void set_max_payload_bytes(uint32_t max_payload_bytes) { max_payload_bytes_ = max_payload_bytes; }
  uint32_t max_payload_bytes() const { return max_payload_bytes_; }
  // Read-ahead (off by default): whether NextBuffers() asks for up to
  // kReadAheadBytes past the current frame, or only for the next header.
  // Headers are checked against the limit as soon as they are read, so a
  // link turns it on only once the limit is final (after its handshake).
  void set_read_ahead(bool on) { read_ahead_ = on; }

  // Fills IOV[0] (and IOV[1]) with where the next bytes of the stream go,
  // and returns how many entries it filled (1 or 2; never 0). While a
  // payload is being read, IOV[0] is the rest of that payload and IOV[1]
  // room for what follows (the next header, or the read-ahead buffer), so
  // one readv() can finish a frame and start the next. The buffers stay
  // valid until the next Commit() or Feed(). Must not be called after an
  // error.
  int NextBuffers(struct iovec iov[2]);

  // Accounts for N bytes that were read into the buffers the last
  // NextBuffers() returned (N at most their total size). Appends each frame
  // completed by them to *OUT (without read-ahead, at most two per call).
  // Returns kNone, or
  // kFrameTooLarge / kUnknownFrameType for a bad header (frames completed
  // before it are still appended; the length is checked first).
  ProtocolError Commit(size_t n, std::vector<Frame>* out);

  // Copies DATA through NextBuffers()/Commit(), appending completed frames
  // to *OUT. For tests and fuzzing; the socket path uses readv().
  ProtocolError Feed(std::string_view data, std::vector<Frame>* out);

  // True if a frame has been started (some header or payload bytes read)
  // and not completed.
  bool mid_frame() const { return staged_ > 0 || in_payload_; }
  // The error that failed the decoder, or kNone.
  ProtocolError error() const { return error_; }

 private:
  // Cuts the frames complete in stage_ out of it, starts the payload of one
  // that is not, and keeps a partial header.
  ProtocolError ParseStaged(std::vector<Frame>* out);

  uint32_t max_payload_bytes_;
  bool read_ahead_ = false;
  // Bytes read past the last frame and not yet parsed: after Commit(),
  // empty while in_payload_, else less than a header.
  char stage_[kReadAheadBytes];
  size_t staged_ = 0;
  bool in_payload_ = false;  // header done, payload_ being filled
  FrameType type_ = FrameType::kData;
  std::string payload_;
  size_t payload_got_ = 0;
  ProtocolError error_ = ProtocolError::kNone;
};

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_FRAME_H_
