// Mesh link framing: [u32 payload length, little endian][u8 type][payload].
//
// FrameDecoder reassembles frames from a byte stream: it tells the reader
// where the next bytes go (the rest of the current frame's own std::string,
// then what follows it), so a large payload is read from the socket straight
// into its own buffer. With read-ahead on, what follows is a small buffer
// from which many small frames are cut by one readv() (kReadAheadMaxBytes
// after a frame that fit in it, so that one of like size comes whole in
// one read; kReadAheadBytes after a larger one, so that little of the next
// large payload is copied); off, it is just the next frame's header.
//
//   FrameDecoder dec(/*max_payload_bytes=*/1 << 20);
//   std::vector<Frame> frames;
//   for (;;) {
//     struct iovec iov[kMaxDecoderIov];
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
#include <functional>
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
// kReadAheadBytes after a frame larger than kReadAheadMaxBytes (header
// included), kReadAheadMaxBytes after any other.
inline constexpr size_t kReadAheadBytes = 2048;
inline constexpr size_t kReadAheadMaxBytes = 16384;
// DATA frames at least this large are offered to the splitter.
inline constexpr size_t kSplitMinBytes = 16384;
// Most iovecs NextBuffers() fills.
inline constexpr int kMaxDecoderIov = 4;

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
// A part of a DATA frame's payload that the receiver wants somewhere other
// than the frame's own buffer (FrameDecoder::set_splitter): LEN bytes from
// OFFSET of the payload go to WHERE, which OWNER keeps valid; OWNER travels
// with the frame.
struct PayloadSplit {
  size_t offset = 0;
  size_t len = 0;  // 0: not split
  char* where = nullptr;
  std::shared_ptr<void> owner;
};

struct Frame {
  FrameType type;
  std::string payload;  // all of it; if split, all but the split part
  PayloadSplit split;
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
  // kReadAheadBytes or kReadAheadMaxBytes past the current frame (see
  // above), or only for the next header.
  // Headers are checked against the limit as soon as they are read, so a
  // link turns it on only once the limit is final (after its handshake).
  void set_read_ahead(bool on) { read_ahead_ = on; }
  // With read-ahead on, a DATA frame of at least MIN_BYTES is offered to
  // SPLITTER, with the first bytes of its payload that came with its
  // header (any number, even 0) and its length: it may name where a part
  // of the payload goes instead (so that bulk data lands where it belongs
  // without a copy). A split that does not fit in the payload is ignored.
  using Splitter = std::function<PayloadSplit(std::string_view first, uint32_t len)>;
  void set_splitter(Splitter splitter, size_t min_bytes = kSplitMinBytes) {
    splitter_ = std::move(splitter);
    split_min_ = min_bytes;
  }

  // Fills IOV with where the next bytes of the stream go, and returns how
  // many entries it filled (1 to kMaxDecoderIov; never 0). While a payload
  // is being read, the first entries are the rest of that payload (up to
  // three pieces if it is split) and the last is room for what follows (the next header, or the read-ahead buffer), so
  // one readv() can finish a frame and start the next. The buffers stay
  // valid until the next Commit() or Feed(). Must not be called after an
  // error.
  int NextBuffers(struct iovec iov[kMaxDecoderIov]);

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
  // The iovecs of the current payload from byte FROM on (1 to 3).
  int PayloadBuffers(size_t from, struct iovec* iov);

  uint32_t max_payload_bytes_;
  bool read_ahead_ = false;
  Splitter splitter_;
  size_t split_min_ = kSplitMinBytes;
  // Bytes read past the last frame and not yet parsed: after Commit(),
  // empty while in_payload_, else less than a header.
  char stage_[kReadAheadMaxBytes];
  size_t staged_ = 0;
  size_t ahead_ = kReadAheadBytes;  // read-ahead room after the last frame
  bool in_payload_ = false;  // header done, payload_ being filled
  FrameType type_ = FrameType::kData;
  std::string payload_;   // the payload, or with split_, all but its part
  size_t payload_len_ = 0;  // the whole payload's length
  size_t payload_got_ = 0;  // of payload_len_
  PayloadSplit split_;
  ProtocolError error_ = ProtocolError::kNone;
};

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_FRAME_H_
