#include "meshd/relay/relay_frame.h"

#include <errno.h>

#include <gtest/gtest.h>

#include "syslink/syslink.h"

namespace meshd {
namespace {

std::string AMessage(size_t payload) {
  union {
    struct syslink_msg msg;
    char buf[SL_MAXSIZE];
  } u = {};
  struct syslink_elm* e = sl_elm_make(sl_msg_init_cmd(&u.msg, SM_PROTO_ENCODE(100), 1), 2,
                                      static_cast<int>(payload));
  memset(e + 1, 'p', payload);
  u.msg.sm_msgid = 5;
  sl_msg_fini(&u.msg);
  return std::string(u.buf, SL_MSG_ALIGN(u.msg.sm_bytes));
}

TEST(RelayFrame, MsgRoundTrip) {
  const std::string msg = AMessage(40);
  const std::string dma(5000, 'd');
  const std::string frame = EncodeMsg(77, kToClient, msg, dma, 8192);
  RelayFrame f;
  ASSERT_TRUE(DecodeRelay(frame, &f));
  EXPECT_EQ(f.type, RelayType::kMsg);
  EXPECT_EQ(f.flags, kToClient);
  EXPECT_EQ(f.sessid, 77u);
  EXPECT_EQ(f.dma_bytes, 5000u);
  EXPECT_EQ(f.dmar_room, 8192u);
  EXPECT_EQ(f.dma, dma);
  EXPECT_EQ(f.msg, msg);
  EXPECT_EQ(f.value, 0u);  // no credit
}

TEST(RelayFrame, MsgCarriesCredit) {
  const std::string msg = AMessage(40);
  RelayFrame f;
  ASSERT_TRUE(DecodeRelay(EncodeMsg(77, 0, msg, {}, 0, 123456), &f));
  EXPECT_EQ(f.value, 123456u);
  std::string frame(kMsgDmaOffset + 10, 'y');
  FinishMsg(&frame, 9, kToClient, msg, 10, 0, 99);
  ASSERT_TRUE(DecodeRelay(frame, &f));
  EXPECT_EQ(f.value, 99u);
  EXPECT_EQ(f.dma, std::string(10, 'y'));
  // Head, data and message sent from three places make the same frame.
  const std::string dma(3000, 'z');
  const std::string parts = EncodeMsgHead(9, kToClient, msg.size(), 3000, 64, 7) + dma + msg;
  ASSERT_TRUE(DecodeRelay(parts, &f));
  EXPECT_EQ(parts, EncodeMsg(9, kToClient, msg, dma, 64, 7));
  EXPECT_EQ(f.dmar_room, 64u);
  // Received split: the data elsewhere, the rest together.
  const std::string rest = EncodeMsgHead(9, kToClient, msg.size(), 3000, 64, 7) + msg;
  ASSERT_TRUE(DecodeRelaySplit(rest, dma, &f));
  EXPECT_EQ(f.dma.data(), dma.data());
  EXPECT_EQ(f.msg, msg);
  EXPECT_EQ(f.value, 7u);
  EXPECT_FALSE(DecodeRelaySplit(rest, std::string_view(dma).substr(1), &f));  // short
  EXPECT_FALSE(DecodeRelaySplit(parts, dma, &f));  // the data twice
  EXPECT_FALSE(DecodeRelaySplit(EncodeControl(RelayType::kClose, 9, 5), dma, &f));
}

TEST(RelayFrame, FinishMsgInPlace) {
  // DMA data written first at kMsgDmaOffset, header and message added after.
  std::string frame(kMsgDmaOffset + SL_DMA_MAX, '\0');
  memset(&frame[kMsgDmaOffset], 'x', 100);
  const std::string msg = AMessage(8);
  FinishMsg(&frame, 9, 0, msg, 100, 0);
  RelayFrame f;
  ASSERT_TRUE(DecodeRelay(frame, &f));
  EXPECT_EQ(f.dma, std::string(100, 'x'));
  EXPECT_EQ(f.msg, msg);
}

TEST(RelayFrame, OpenAndControl) {
  relay::RelayOpen o;
  o.set_src_node(1);
  o.set_src_name("a");
  o.set_dst_node(2);
  o.set_service("kv");
  o.set_window_bytes(1u << 20);
  RelayFrame f;
  ASSERT_TRUE(DecodeRelay(EncodeOpen(5, o), &f));
  EXPECT_EQ(f.type, RelayType::kOpen);
  EXPECT_EQ(f.open.service(), "kv");
  EXPECT_EQ(f.open.window_bytes(), 1u << 20);
  ASSERT_TRUE(DecodeRelay(EncodeControl(RelayType::kClose, 5, EHOSTUNREACH), &f));
  EXPECT_EQ(f.value, static_cast<uint32_t>(EHOSTUNREACH));
  ASSERT_TRUE(DecodeRelay(EncodeControl(RelayType::kCredit, 5, 4096, kToClient), &f));
  EXPECT_EQ(f.value, 4096u);
}

TEST(RelayFrame, Rejects) {
  RelayFrame f;
  EXPECT_FALSE(DecodeRelay("", &f));
  EXPECT_FALSE(DecodeRelay(std::string(15, '\0'), &f));
  std::string c = EncodeControl(RelayType::kClose, 5, 1);
  c[0] = 9;  // unknown type
  EXPECT_FALSE(DecodeRelay(c, &f));
  EXPECT_FALSE(DecodeRelay(EncodeControl(RelayType::kClose, 0, 1), &f));  // sessid 0
  EXPECT_FALSE(DecodeRelay(EncodeControl(RelayType::kCredit, 5, 0), &f));  // no credit
  EXPECT_FALSE(DecodeRelay(EncodeControl(RelayType::kClose, 5, 70000), &f));
  std::string m = EncodeMsg(5, 0, AMessage(8), "dd", 0);
  EXPECT_FALSE(DecodeRelay(m.substr(0, m.size() - 1), &f));  // lengths must add up
  EXPECT_FALSE(DecodeRelay(m + "x", &f));
  std::string big = EncodeMsg(5, 0, AMessage(8), "", 0);
  big[kRelayHeaderBytes + 4] = '\xff';  // dmar_room huge
  big[kRelayHeaderBytes + 5] = '\xff';
  big[kRelayHeaderBytes + 6] = '\xff';
  EXPECT_FALSE(DecodeRelay(big, &f));
  relay::RelayOpen o;
  o.set_src_node(1);
  o.set_src_name("bad name");
  o.set_dst_node(2);
  o.set_service("kv");
  o.set_window_bytes(1u << 20);
  EXPECT_FALSE(DecodeRelay(EncodeOpen(5, o), &f));
  // A session window out of the range a node can be configured with.
  o.set_src_name("a");
  ASSERT_TRUE(DecodeRelay(EncodeOpen(5, o), &f));
  for (uint32_t w : {0u, kMinWindowBytes - 1, kMaxWindowBytes + 1}) {
    o.set_window_bytes(w);
    EXPECT_FALSE(DecodeRelay(EncodeOpen(5, o), &f)) << w;
  }
}

}  // namespace
}  // namespace meshd
