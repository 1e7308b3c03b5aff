#include "meshd/mesh/frame.h"

#include <cassert>
#include <cstring>

namespace meshd {
namespace mesh {

bool IsKnownFrameType(uint8_t type) { return type >= 1 && type <= kMaxFrameType; }

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello: return "hello";
    case FrameType::kAuth: return "auth";
    case FrameType::kReady: return "ready";
    case FrameType::kGoodbye: return "goodbye";
    case FrameType::kHeartbeat: return "heartbeat";
    case FrameType::kLsa: return "lsa";
    case FrameType::kProbe: return "probe";
    case FrameType::kData: return "data";
  }
  return "unknown";
}

void EncodeFrameHeader(FrameType type, uint32_t payload_bytes, char out[kFrameHeaderBytes]) {
  out[0] = static_cast<char>(payload_bytes & 0xff);
  out[1] = static_cast<char>((payload_bytes >> 8) & 0xff);
  out[2] = static_cast<char>((payload_bytes >> 16) & 0xff);
  out[3] = static_cast<char>((payload_bytes >> 24) & 0xff);
  out[4] = static_cast<char>(type);
}

std::string EncodeFrame(FrameType type, std::string_view payload) {
  assert(payload.size() <= UINT32_MAX);
  std::string out(kFrameHeaderBytes, '\0');
  EncodeFrameHeader(type, static_cast<uint32_t>(payload.size()), out.data());
  out.append(payload);
  return out;
}

FrameDecoder::FrameDecoder(uint32_t max_payload_bytes) : max_payload_bytes_(max_payload_bytes) {}

int FrameDecoder::NextBuffers(struct iovec iov[2]) {
  assert(error_ == ProtocolError::kNone);
  if (!in_payload_) {
    iov[0].iov_base = header_ + header_got_;
    iov[0].iov_len = kFrameHeaderBytes - header_got_;
    return 1;
  }
  // The payload is never empty here (empty frames complete in StartFrame),
  // and the next header has not been started.
  assert(payload_got_ < payload_.size() && header_got_ == 0);
  iov[0].iov_base = payload_.data() + payload_got_;
  iov[0].iov_len = payload_.size() - payload_got_;
  iov[1].iov_base = header_;
  iov[1].iov_len = kFrameHeaderBytes;
  return 2;
}

ProtocolError FrameDecoder::StartFrame(std::vector<Frame>* out) {
  const auto* h = reinterpret_cast<const unsigned char*>(header_);
  const uint32_t len = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 8) |
                       (static_cast<uint32_t>(h[2]) << 16) | (static_cast<uint32_t>(h[3]) << 24);
  header_got_ = 0;
  if (len > max_payload_bytes_) return error_ = ProtocolError::kFrameTooLarge;
  if (!IsKnownFrameType(h[4])) return error_ = ProtocolError::kUnknownFrameType;
  type_ = static_cast<FrameType>(h[4]);
  if (len == 0) {
    out->push_back(Frame{type_, std::string()});
    return ProtocolError::kNone;
  }
  payload_ = std::string();
  payload_.resize(len);  // the frame's own buffer; the socket reads into it
  payload_got_ = 0;
  in_payload_ = true;
  return ProtocolError::kNone;
}

ProtocolError FrameDecoder::Commit(size_t n, std::vector<Frame>* out) {
  if (error_ != ProtocolError::kNone) return error_;
  if (!in_payload_) {
    // The bytes went into the header.
    assert(n <= kFrameHeaderBytes - header_got_);
    header_got_ += n;
    if (header_got_ == kFrameHeaderBytes) return StartFrame(out);
    return ProtocolError::kNone;
  }
  const size_t want = payload_.size() - payload_got_;
  const size_t into_payload = n < want ? n : want;
  payload_got_ += into_payload;
  n -= into_payload;
  if (payload_got_ < payload_.size()) {
    assert(n == 0);
    return ProtocolError::kNone;
  }
  out->push_back(Frame{type_, std::move(payload_)});
  payload_ = std::string();
  in_payload_ = false;
  // The rest went into the next header (IOV[1]).
  assert(n <= kFrameHeaderBytes);
  header_got_ = n;
  if (header_got_ == kFrameHeaderBytes) return StartFrame(out);
  return ProtocolError::kNone;
}

ProtocolError FrameDecoder::Feed(std::string_view data, std::vector<Frame>* out) {
  while (error_ == ProtocolError::kNone && !data.empty()) {
    struct iovec iov[2];
    const int cnt = NextBuffers(iov);
    size_t n = 0;
    for (int i = 0; i < cnt && !data.empty(); i++) {
      const size_t take = data.size() < iov[i].iov_len ? data.size() : iov[i].iov_len;
      memcpy(iov[i].iov_base, data.data(), take);
      data.remove_prefix(take);
      n += take;
    }
    if (Commit(n, out) != ProtocolError::kNone) break;
  }
  return error_;
}

}  // namespace mesh
}  // namespace meshd
