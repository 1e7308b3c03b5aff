#include "libsyslink/control.h"

#include <errno.h>

#include <gtest/gtest.h>

namespace libsyslink {
namespace ctl {
namespace {

Message RoundTrip(const Message& m, int* err) {
  alignas(8) unsigned char buf[SL_MAXSIZE];
  const size_t len = Encode(m, buf);
  Message out;
  *err = Decode(buf, len, &out);
  return out;
}

TEST(Control, RegionRegisterRoundTrip) {
  Message m;
  m.op = Op::kRegionRegister;
  m.msgid = 9;
  m.has_offset = true;
  m.offset = 0;  // zero is a valid offset: the flag says it is there
  m.length = 1 << 20;
  m.access = SL_REGION_READ | SL_REGION_WRITE;
  int err;
  Message got = RoundTrip(m, &err);
  ASSERT_EQ(err, 0);
  EXPECT_EQ(got.op, Op::kRegionRegister);
  EXPECT_TRUE(got.has_offset);
  EXPECT_EQ(got.offset, 0u);
  EXPECT_EQ(got.length, 1u << 20);
  EXPECT_EQ(got.access, 3u);

  Message r = ReplyTo(m, 0);
  r.node_id = 0x1122334455667788;
  r.slot = 4;
  r.generation = 7;
  r.secret = 0xfeedfacecafebeef;
  got = RoundTrip(r, &err);
  ASSERT_EQ(err, 0);
  EXPECT_TRUE(got.reply);
  EXPECT_EQ(got.node_id, r.node_id);
  EXPECT_EQ(got.slot, 4u);
  EXPECT_EQ(got.generation, 7u);
  EXPECT_EQ(got.secret, r.secret);
}

TEST(Control, RegionRequestsThatNoLimitMakesValid) {
  Message m;
  m.op = Op::kRegionRegister;
  m.has_offset = true;
  m.length = 10;
  m.access = 1;
  int err;
  Message bad = m;
  bad.has_offset = false;
  RoundTrip(bad, &err);
  EXPECT_EQ(err, EINVAL) << "no offset";
  bad = m;
  bad.length = 0;
  RoundTrip(bad, &err);
  EXPECT_EQ(err, EINVAL) << "no length";
  bad = m;
  bad.access = 4;
  RoundTrip(bad, &err);
  EXPECT_EQ(err, EINVAL) << "unknown access bit";
  bad = m;
  bad.offset = UINT64_MAX - 3;
  RoundTrip(bad, &err);
  EXPECT_EQ(err, EINVAL) << "the range wraps";
  Message d;
  d.op = Op::kRegionDeregister;
  d.slot = 1;
  d.generation = 0;
  RoundTrip(d, &err);
  EXPECT_EQ(err, EINVAL) << "generations are never 0";
  d.generation = 1;
  RoundTrip(d, &err);
  EXPECT_EQ(err, 0);
}

TEST(Control, ConnectByNodeId) {
  Message m;
  m.op = Op::kConnect;
  m.service = "meshd.regions";
  m.node_id = 42;
  int err;
  Message got = RoundTrip(m, &err);
  ASSERT_EQ(err, 0);
  EXPECT_EQ(got.node_id, 42u);
  EXPECT_EQ(got.service, "meshd.regions");
  EXPECT_TRUE(got.node.empty());
}

}  // namespace
}  // namespace ctl
}  // namespace libsyslink
