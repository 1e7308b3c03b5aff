#include "meshd/mesh/frame.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "common/byte_buffers.h"

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

int FrameDecoder::PayloadBuffers(size_t from, struct iovec* iov) {
  // Logically [0, len): [0, off) and [off + n, len) are in payload_, one
  // after the other; [off, off + n) is at split_.where.
  const size_t off = split_.len > 0 ? split_.offset : payload_len_;
  const size_t n = split_.len;
  int cnt = 0;
  auto add = [&](char* p, size_t len) {
    if (len == 0) return;
    iov[cnt].iov_base = p;
    iov[cnt].iov_len = len;
    cnt++;
  };
  if (from < off) add(payload_.data() + from, off - from);
  if (from < off + n) {
    const size_t in = from > off ? from - off : 0;
    add(split_.where + in, n - in);
  }
  const size_t tail_from = std::max(from, off + n);
  add(payload_.data() + (tail_from - n), payload_len_ - tail_from);
  return cnt;
}

int FrameDecoder::NextBuffers(struct iovec iov[kMaxDecoderIov]) {
  assert(error_ == ProtocolError::kNone);
  const size_t room = read_ahead_ ? ahead_ : kFrameHeaderBytes;
  if (!in_payload_) {
    assert(staged_ < kFrameHeaderBytes);
    iov[0].iov_base = stage_ + staged_;
    iov[0].iov_len = room - staged_;
    return 1;
  }
  // The payload is never empty here (empty frames complete at once), and
  // nothing is staged behind it.
  assert(payload_got_ < payload_len_ && staged_ == 0);
  int cnt = PayloadBuffers(payload_got_, iov);
  iov[cnt].iov_base = stage_;
  iov[cnt].iov_len = room;
  return cnt + 1;
}

ProtocolError FrameDecoder::ParseStaged(std::vector<Frame>* out) {
  size_t at = 0;
  ProtocolError err = ProtocolError::kNone;
  while (staged_ - at >= kFrameHeaderBytes) {
    const auto* h = reinterpret_cast<const unsigned char*>(stage_ + at);
    const uint32_t len = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 8) |
                         (static_cast<uint32_t>(h[2]) << 16) |
                         (static_cast<uint32_t>(h[3]) << 24);
    if (len > max_payload_bytes_) {
      err = error_ = ProtocolError::kFrameTooLarge;
      break;
    }
    if (!IsKnownFrameType(h[4])) {
      err = error_ = ProtocolError::kUnknownFrameType;
      break;
    }
    const auto type = static_cast<FrameType>(h[4]);
    at += kFrameHeaderBytes;
    const size_t have = staged_ - at;
    if (len <= have) {
      out->push_back(Frame{type, std::string(stage_ + at, len), {}});
      at += len;
      ahead_ = kReadAheadMaxBytes;  // it fit
      continue;
    }
    // The rest is read into the frame's own buffer (or, split, partly
    // where the splitter said).
    type_ = type;
    split_ = PayloadSplit();
    if (splitter_ && type == FrameType::kData && len >= split_min_ && len > have) {
      PayloadSplit sp = splitter_(std::string_view(stage_ + at, have), len);
      if (sp.len > 0 && sp.where != nullptr && sp.offset <= len && sp.len <= len - sp.offset) {
        split_ = std::move(sp);
      }
    }
    payload_len_ = len;
    payload_ = common::TakeBuffer(len - split_.len);
    // What came with the header goes where it belongs.
    struct iovec iov[3];
    const int cnt = PayloadBuffers(0, iov);
    size_t left = have;
    const char* src = stage_ + at;
    for (int i = 0; i < cnt && left > 0; i++) {
      const size_t take = std::min(left, iov[i].iov_len);
      memcpy(iov[i].iov_base, src, take);
      src += take;
      left -= take;
    }
    payload_got_ = have;
    in_payload_ = true;
    at = staged_;
  }
  memmove(stage_, stage_ + at, staged_ - at);
  staged_ -= at;
  return err;
}

ProtocolError FrameDecoder::Commit(size_t n, std::vector<Frame>* out) {
  if (error_ != ProtocolError::kNone) return error_;
  if (in_payload_) {
    const size_t want = payload_len_ - payload_got_;
    const size_t into_payload = n < want ? n : want;
    payload_got_ += into_payload;
    n -= into_payload;
    if (payload_got_ < payload_len_) {
      assert(n == 0);
      return ProtocolError::kNone;
    }
    out->push_back(Frame{type_, std::move(payload_), std::move(split_)});
    ahead_ = kFrameHeaderBytes + payload_len_ <= kReadAheadMaxBytes ? kReadAheadMaxBytes
                                                                     : kReadAheadBytes;
    payload_ = std::string();
    split_ = PayloadSplit();
    in_payload_ = false;
    // The rest went into the last iovec, the start of stage_.
  }
  assert(staged_ + n <= sizeof stage_);
  staged_ += n;
  return ParseStaged(out);
}

ProtocolError FrameDecoder::Feed(std::string_view data, std::vector<Frame>* out) {
  while (error_ == ProtocolError::kNone && !data.empty()) {
    struct iovec iov[kMaxDecoderIov];
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
