// Fuzzes the mesh link's receive path after the handshake: the incremental
// frame decoder (meshd/mesh/frame.h) fed in odd-sized pieces, then each
// frame's control message parser (meshd/mesh/messages.h), and valid adverts
// into a link-state database.
//
// Input: byte 0 picks how the stream is cut into reads; the rest is the
// byte stream from the peer.
//
// Properties: nothing crashes or reads out of bounds; no frame exceeds the
// limit; re-encoding the frames gives back exactly the bytes they came from
// (nothing lost or invented); after an error the decoder stays failed; a
// parsed advert is valid and survives encode/parse unchanged; the database
// never holds more than max_nodes origins.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshd/mesh/frame.h"
#include "meshd/mesh/lsdb.h"
#include "meshd/mesh/messages.h"
#include "proto/mesh.pb.h"

using meshd::ProtocolError;
using namespace meshd::mesh;

namespace {
constexpr uint32_t kMaxPayload = 4096;
constexpr uint32_t kMaxNodes = 16;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t cut = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  // Both ways of reading the stream; with read-ahead, sometimes large
  // DATA frames split (part of the payload put elsewhere).
  const bool split = (cut & 0xc0) == 0xc0;
  const uint32_t max_payload = kMaxPayload;
  constexpr size_t kSplitMin = 16;  // small, so that short inputs split
  FrameDecoder dec(max_payload);
  dec.set_read_ahead(cut & 0x80);
  if (split) {
    dec.set_splitter(
        [cut](std::string_view first, uint32_t len) {
          if (len < kSplitMin || first.size() >= len) std::abort();
          const size_t off = (cut & 0x3f) * 37u % len;
          const size_t n = std::min<size_t>(len - off, 3 + first.size() * 5 % 200);
          auto buf = std::make_shared<std::string>(n, '\0');
          return PayloadSplit{off, n, buf->data(), buf};
        },
        kSplitMin);
  }
  std::vector<Frame> frames;
  ProtocolError err = ProtocolError::kNone;
  size_t at = 0;
  size_t step = 0;
  while (at < stream.size() && err == ProtocolError::kNone) {
    // Reads of 1..(cut % 64 + 1) bytes, varying.
    const size_t n = 1 + (step * 7 + cut) % (cut % 64 + 1);
    err = dec.Feed(stream.substr(at, n), &frames);
    at += n;
    step++;
  }
  if (err != ProtocolError::kNone) {
    if (err != ProtocolError::kFrameTooLarge && err != ProtocolError::kUnknownFrameType) std::abort();
    std::vector<Frame> more;
    if (dec.Feed("x", &more) != err || !more.empty()) std::abort();
  }

  std::string again;
  LinkStateDb db(1, "self", kMaxNodes);
  int64_t now = 0;
  for (Frame& f : frames) {
    if (f.split.len > 0) {
      if (!split || f.type != FrameType::kData || f.split.offset > f.payload.size()) std::abort();
      f.payload.insert(f.split.offset, f.split.where, f.split.len);
    }
    if (f.payload.size() > max_payload) std::abort();
    again += EncodeFrame(f.type, f.payload);
    switch (f.type) {
      case FrameType::kLsa: {
        Lsa lsa;
        if (!ParseLsa(f.payload, kMaxNodes, &lsa)) break;
        if (!ValidateLsa(lsa, kMaxNodes)) std::abort();
        Lsa back;
        if (!ParseLsa(EncodeLsa(lsa), kMaxNodes, &back) || !(back == lsa)) std::abort();
        db.Update(std::move(lsa), now++);
        if (db.size() > kMaxNodes) std::abort();
        // Routing stays consistent: every route's first hop is reachable.
        for (const auto& [id, route] : db.routes()) {
          if (id != 1 && !db.Reachable(route.first_hop)) std::abort();
        }
        break;
      }
      case FrameType::kProbe: {
        Probe p;
        if (!ParseProbe(f.payload, &p)) break;
        if (p.ttl() < 1 || p.ttl() > kMaxProbeTtl || p.origin() == 0 || p.destination() == 0) std::abort();
        break;
      }
      case FrameType::kHeartbeat: {
        Heartbeat hb;
        ParseHeartbeat(f.payload, &hb);
        break;
      }
      case FrameType::kGoodbye: {
        std::string reason;
        if (ParseGoodbye(f.payload, &reason)) {
          if (reason.size() > kMaxGoodbyeReasonBytes) std::abort();
          for (char c : reason) {
            if (!ValidNodeName(std::string(1, c))) std::abort();
          }
        }
        break;
      }
      default:
        break;
    }
  }
  // Frames are a prefix of the stream, byte for byte.
  if (stream.substr(0, again.size()) != again) std::abort();
  if (err == ProtocolError::kNone && !dec.mid_frame() && again.size() != stream.size()) std::abort();
  return 0;
}
