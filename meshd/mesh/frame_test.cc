#include "meshd/mesh/frame.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace meshd {
namespace mesh {
namespace {

std::string Header(uint32_t len, uint8_t type) {
  std::string h(kFrameHeaderBytes, '\0');
  h[0] = static_cast<char>(len & 0xff);
  h[1] = static_cast<char>((len >> 8) & 0xff);
  h[2] = static_cast<char>((len >> 16) & 0xff);
  h[3] = static_cast<char>((len >> 24) & 0xff);
  h[4] = static_cast<char>(type);
  return h;
}

TEST(FrameTest, HeaderIsLittleEndianLengthThenType) {
  const std::string f = EncodeFrame(FrameType::kData, "abc");
  ASSERT_EQ(f.size(), 8u);
  EXPECT_EQ(f.substr(0, 5), Header(3, 8));
  EXPECT_EQ(f.substr(5), "abc");
  char h[kFrameHeaderBytes];
  EncodeFrameHeader(FrameType::kLsa, 0x01020304, h);
  EXPECT_EQ(std::string(h, 5), std::string("\x04\x03\x02\x01\x06", 5));
}

TEST(FrameTest, RoundTripEveryTypeAndSize) {
  std::string stream;
  std::vector<Frame> want;
  for (uint8_t t = 1; t <= kMaxFrameType; t++) {
    for (size_t len : {0, 1, 4, 5, 6, 100, 70000}) {
      std::string payload(len, '\0');
      for (size_t i = 0; i < len; i++) payload[i] = static_cast<char>(i * 7 + t);
      stream += EncodeFrame(static_cast<FrameType>(t), payload);
      want.push_back(Frame{static_cast<FrameType>(t), payload});
    }
  }
  // Whole, byte by byte, and in odd chunks: always the same frames.
  for (size_t chunk : {stream.size(), size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
    FrameDecoder dec(1 << 20);
    std::vector<Frame> got;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      ASSERT_EQ(dec.Feed(std::string_view(stream).substr(at, chunk), &got), ProtocolError::kNone);
    }
    EXPECT_FALSE(dec.mid_frame());
    ASSERT_EQ(got.size(), want.size()) << "chunk " << chunk;
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i].type, want[i].type);
      EXPECT_EQ(got[i].payload, want[i].payload);
    }
  }
}

TEST(FrameTest, BuffersPointIntoTheFramesOwnPayload) {
  // The socket path: readv into NextBuffers(). The payload handed out is the
  // very buffer the bytes were read into (no copy). (Payloads of up to 15
  // bytes live inside the std::string object itself, so moving those copies
  // them; this one is bigger.)
  FrameDecoder dec(1 << 20);
  std::vector<Frame> got;
  struct iovec iov[kMaxDecoderIov];
  ASSERT_EQ(dec.NextBuffers(iov), 1);
  ASSERT_EQ(iov[0].iov_len, kFrameHeaderBytes);
  const std::string body_bytes(100, 'p');
  memcpy(iov[0].iov_base, Header(100, 8).data(), 5);
  ASSERT_EQ(dec.Commit(5, &got), ProtocolError::kNone);
  EXPECT_TRUE(dec.mid_frame());
  ASSERT_EQ(dec.NextBuffers(iov), 2);
  ASSERT_EQ(iov[0].iov_len, 100u);
  ASSERT_EQ(iov[1].iov_len, kFrameHeaderBytes);
  char* body = static_cast<char*>(iov[0].iov_base);
  memcpy(body, body_bytes.data(), 100);
  // And the next frame's header in the same read: an empty READY.
  memcpy(iov[1].iov_base, Header(0, 3).data(), 5);
  ASSERT_EQ(dec.Commit(105, &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, body_bytes);
  EXPECT_EQ(got[0].payload.data(), body);
  EXPECT_EQ(got[1].type, FrameType::kReady);
  EXPECT_FALSE(dec.mid_frame());
}

TEST(FrameTest, PartialHeaderInSecondBuffer) {
  FrameDecoder dec(1 << 20);
  std::vector<Frame> got;
  std::string s = EncodeFrame(FrameType::kData, "xy") + EncodeFrame(FrameType::kProbe, "z");
  // Feed the first frame and 2 bytes of the next header together.
  ASSERT_EQ(dec.Feed(s.substr(0, 9), &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(dec.mid_frame());
  ASSERT_EQ(dec.Feed(s.substr(9), &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].type, FrameType::kProbe);
  EXPECT_EQ(got[1].payload, "z");
}

TEST(FrameTest, TooLarge) {
  FrameDecoder dec(100);
  std::vector<Frame> got;
  EXPECT_EQ(dec.Feed(Header(100, 8) + std::string(100, 'a'), &got), ProtocolError::kNone);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(dec.Feed(Header(101, 8), &got), ProtocolError::kFrameTooLarge);
  // Failed for good.
  EXPECT_EQ(dec.Feed(EncodeFrame(FrameType::kData, ""), &got), ProtocolError::kFrameTooLarge);
  EXPECT_EQ(dec.error(), ProtocolError::kFrameTooLarge);
  EXPECT_EQ(got.size(), 1u);
}

TEST(FrameTest, HugeLengthIsRejectedBeforeAllocating) {
  FrameDecoder dec(1 << 20);
  std::vector<Frame> got;
  EXPECT_EQ(dec.Feed(Header(0xffffffffu, 8), &got), ProtocolError::kFrameTooLarge);
}

TEST(FrameTest, UnknownTypes) {
  for (uint8_t t : {0, 9, 100, 255}) {
    FrameDecoder dec(1 << 20);
    std::vector<Frame> got;
    EXPECT_EQ(dec.Feed(Header(0, t), &got), ProtocolError::kUnknownFrameType) << int(t);
    EXPECT_TRUE(got.empty());
  }
}

TEST(FrameTest, FramesBeforeABadHeaderAreKept) {
  FrameDecoder dec(1 << 20);
  std::vector<Frame> got;
  EXPECT_EQ(dec.Feed(EncodeFrame(FrameType::kData, "ok") + Header(0, 77), &got),
            ProtocolError::kUnknownFrameType);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "ok");
}

TEST(FrameTest, LimitChangeAppliesToTheNextHeader) {
  FrameDecoder dec(10);
  std::vector<Frame> got;
  ASSERT_EQ(dec.Feed(Header(10, 8), &got), ProtocolError::kNone);
  dec.set_max_payload_bytes(5);
  // The frame already started keeps its limit.
  ASSERT_EQ(dec.Feed(std::string(10, 'a'), &got), ProtocolError::kNone);
  EXPECT_EQ(dec.Feed(Header(6, 8), &got), ProtocolError::kFrameTooLarge);
}

TEST(FrameTest, ReadAheadCutsManyFramesFromOneRead) {
  FrameDecoder dec(1 << 20);
  dec.set_read_ahead(true);
  std::vector<Frame> got;
  struct iovec iov[kMaxDecoderIov];
  ASSERT_EQ(dec.NextBuffers(iov), 1);
  ASSERT_EQ(iov[0].iov_len, kReadAheadBytes);
  // Three small frames and the start of a large one, in one read.
  const std::string big(10000, 'B');
  std::string stream = EncodeFrame(FrameType::kData, "one") +
                       EncodeFrame(FrameType::kHeartbeat, "") +
                       EncodeFrame(FrameType::kData, std::string(300, 't')) +
                       EncodeFrame(FrameType::kData, big) + EncodeFrame(FrameType::kProbe, "p");
  size_t first = kReadAheadBytes;
  memcpy(iov[0].iov_base, stream.data(), first);
  ASSERT_EQ(dec.Commit(first, &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, "one");
  EXPECT_EQ(got[1].type, FrameType::kHeartbeat);
  EXPECT_EQ(got[2].payload, std::string(300, 't'));
  EXPECT_TRUE(dec.mid_frame());
  // The rest of the large frame goes straight into its own buffer, with
  // the read-ahead buffer behind it (all of it: the last frames fit).
  ASSERT_EQ(dec.NextBuffers(iov), 2);
  const size_t rest = stream.size() - first - 6;  // all but the last frame
  ASSERT_EQ(iov[0].iov_len, rest);
  ASSERT_EQ(iov[1].iov_len, kReadAheadMaxBytes);
  char* body = static_cast<char*>(iov[0].iov_base);
  memcpy(iov[0].iov_base, stream.data() + first, rest);
  memcpy(iov[1].iov_base, stream.data() + first + rest, 6);
  ASSERT_EQ(dec.Commit(rest + 6, &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[3].payload, big);
  EXPECT_EQ(got[3].payload.data() + got[3].payload.size() - rest, body);
  EXPECT_EQ(got[4].type, FrameType::kProbe);
  EXPECT_EQ(got[4].payload, "p");
  EXPECT_FALSE(dec.mid_frame());
}

TEST(FrameTest, ReadAheadWidensAfterFramesThatFit) {
  // After frames that fit in kReadAheadMaxBytes, a 4 KiB frame comes whole
  // in one read; after a larger one the decoder reads only kReadAheadBytes
  // ahead, so that little of a next large payload is copied.
  FrameDecoder dec(1 << 20);
  dec.set_read_ahead(true);
  std::vector<Frame> got;
  ASSERT_EQ(dec.Feed(EncodeFrame(FrameType::kData, "small"), &got), ProtocolError::kNone);
  struct iovec iov[kMaxDecoderIov];
  ASSERT_EQ(dec.NextBuffers(iov), 1);
  ASSERT_EQ(iov[0].iov_len, kReadAheadMaxBytes);
  const std::string mid = EncodeFrame(FrameType::kData, std::string(4096, 'm'));
  memcpy(iov[0].iov_base, mid.data(), mid.size());
  ASSERT_EQ(dec.Commit(mid.size(), &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].payload, std::string(4096, 'm'));
  EXPECT_FALSE(dec.mid_frame());
  // A frame larger than the read-ahead: it narrows afterwards...
  ASSERT_EQ(dec.Feed(EncodeFrame(FrameType::kData, std::string(kReadAheadMaxBytes, 'L')), &got),
            ProtocolError::kNone);
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(dec.NextBuffers(iov), 1);
  EXPECT_EQ(iov[0].iov_len, kReadAheadBytes);
  // ...until a frame fits again.
  ASSERT_EQ(dec.Feed(EncodeFrame(FrameType::kHeartbeat, ""), &got), ProtocolError::kNone);
  ASSERT_EQ(dec.NextBuffers(iov), 1);
  EXPECT_EQ(iov[0].iov_len, kReadAheadMaxBytes);
}

TEST(FrameTest, ReadAheadKeepsPartialHeadersAndChecksEveryHeader) {
  FrameDecoder dec(100);
  dec.set_read_ahead(true);
  std::vector<Frame> got;
  const std::string s = EncodeFrame(FrameType::kData, "ab") + Header(100, 8);
  // Every split of the stream gives the same frames.
  for (size_t cut = 0; cut <= s.size(); cut++) {
    FrameDecoder d(100);
    d.set_read_ahead(true);
    std::vector<Frame> g;
    ASSERT_EQ(d.Feed(s.substr(0, cut), &g), ProtocolError::kNone);
    ASSERT_EQ(d.Feed(s.substr(cut), &g), ProtocolError::kNone);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_TRUE(d.mid_frame());
    ASSERT_EQ(d.Feed(std::string(100, 'x'), &g), ProtocolError::kNone);
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[1].payload, std::string(100, 'x'));
  }
  // A bad header after good frames in the same read: those are kept.
  EXPECT_EQ(dec.Feed(EncodeFrame(FrameType::kData, "ok") + Header(101, 8) + "zzz", &got),
            ProtocolError::kFrameTooLarge);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(dec.Feed("x", &got), ProtocolError::kFrameTooLarge);
}

// A splitter that puts LEN bytes from OFFSET of every large frame into a
// buffer of its own, and records what it was shown.
struct TestSplitter {
  size_t offset, len;
  std::string first_seen;
  uint32_t len_seen = 0;
  std::shared_ptr<std::string> buf;
  FrameDecoder::Splitter Get() {
    return [this](std::string_view first, uint32_t total) {
      first_seen = std::string(first);
      len_seen = total;
      buf = std::make_shared<std::string>(len, '\0');
      return PayloadSplit{offset, len, buf->data(), buf};
    };
  }
};

TEST(FrameTest, SplitPutsAPartElsewhereWhateverTheReads) {
  std::string big(40000, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i * 13);
  const std::string stream = EncodeFrame(FrameType::kData, "small") +
                             EncodeFrame(FrameType::kData, big) +
                             EncodeFrame(FrameType::kData, "after");
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{100}, size_t{3000}, size_t{100000}}) {
    FrameDecoder dec(1 << 20);
    dec.set_read_ahead(true);
    TestSplitter ts{32, 30000};
    dec.set_splitter(ts.Get());
    std::vector<Frame> got;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      ASSERT_EQ(dec.Feed(stream.substr(at, chunk), &got), ProtocolError::kNone);
    }
    ASSERT_EQ(got.size(), 3u) << chunk;
    EXPECT_EQ(got[0].split.len, 0u);
    EXPECT_EQ(got[0].payload, "small");
    const Frame& f = got[1];
    ASSERT_EQ(f.split.len, 30000u);
    EXPECT_EQ(ts.len_seen, big.size());
    EXPECT_EQ(ts.first_seen, big.substr(0, ts.first_seen.size()));
    // Head and tail in the frame's own buffer, the middle where asked.
    EXPECT_EQ(f.payload, big.substr(0, 32) + big.substr(32 + 30000)) << chunk;
    EXPECT_EQ(std::string(f.split.where, f.split.len), big.substr(32, 30000)) << chunk;
    EXPECT_EQ(f.split.owner.get(), ts.buf.get());
    EXPECT_EQ(got[2].payload, "after");
  }
}

TEST(FrameTest, SplitsThatDoNotFitAreIgnored) {
  const std::string big(20000, 'b');
  FrameDecoder dec(1 << 20);
  dec.set_read_ahead(true);
  TestSplitter ts{19000, 2000};  // past the end
  dec.set_splitter(ts.Get());
  std::vector<Frame> got;
  ASSERT_EQ(dec.Feed(EncodeFrame(FrameType::kData, big), &got), ProtocolError::kNone);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].split.len, 0u);
  EXPECT_EQ(got[0].payload, big);
  // Small frames and other types are never offered.
  ts.len_seen = 0;
  ASSERT_EQ(dec.Feed(EncodeFrame(FrameType::kData, std::string(100, 's')) +
                         EncodeFrame(FrameType::kLsa, std::string(20000, 'l')),
                     &got),
            ProtocolError::kNone);
  EXPECT_EQ(ts.len_seen, 0u);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].payload.size(), 20000u);
}

TEST(FrameTest, Names) {
  EXPECT_STREQ(FrameTypeName(FrameType::kHello), "hello");
  EXPECT_STREQ(FrameTypeName(FrameType::kData), "data");
  EXPECT_STREQ(FrameTypeName(static_cast<FrameType>(99)), "unknown");
  EXPECT_FALSE(IsKnownFrameType(0));
  EXPECT_TRUE(IsKnownFrameType(8));
  EXPECT_FALSE(IsKnownFrameType(9));
}

}  // namespace
}  // namespace mesh
}  // namespace meshd
