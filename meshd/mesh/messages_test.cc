#include "meshd/mesh/messages.h"

#include "gtest/gtest.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace mesh {
namespace {

TEST(MessagesTest, NodeNames) {
  EXPECT_TRUE(ValidNodeName("a"));
  EXPECT_TRUE(ValidNodeName("node-1.rack_2"));
  EXPECT_TRUE(ValidNodeName(std::string(63, 'x')));
  EXPECT_FALSE(ValidNodeName(std::string(64, 'x')));
  EXPECT_FALSE(ValidNodeName(""));
  EXPECT_FALSE(ValidNodeName("a b"));
  EXPECT_FALSE(ValidNodeName("a/b"));
  EXPECT_FALSE(ValidNodeName(std::string("a\0b", 3)));
}

TEST(MessagesTest, LsaRoundTrip) {
  Lsa lsa{7, "g", 99, {{1, 1}, {2, 65535}}};
  Lsa back;
  ASSERT_TRUE(ParseLsa(EncodeLsa(lsa), 16, &back));
  EXPECT_EQ(back, lsa);
}

TEST(MessagesTest, LsaInvalid) {
  Lsa back;
  EXPECT_FALSE(ParseLsa("\xff\xff", 16, &back));                       // not a message
  EXPECT_FALSE(ParseLsa(EncodeLsa({0, "g", 1, {}}), 16, &back));       // origin 0
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "", 1, {}}), 16, &back));        // no name
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "a b", 1, {}}), 16, &back));     // bad name
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 0, {}}), 16, &back));       // seq 0
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{0, 1}}}), 16, &back)); // neighbor 0
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{7, 1}}}), 16, &back)); // itself
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{1, 0}}}), 16, &back)); // cost 0
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{1, 65536}}}), 16, &back));
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{1, 1}, {1, 2}}}), 16, &back));  // duplicate
  EXPECT_FALSE(ParseLsa(EncodeLsa({7, "g", 1, {{1, 1}, {2, 1}, {3, 1}}}), 2, &back));  // too many
}

TEST(MessagesTest, Probe) {
  Probe p;
  p.set_kind(Probe::ECHO_REQUEST);
  p.set_origin(1);
  p.set_destination(2);
  p.set_ttl(3);
  Probe q;
  EXPECT_TRUE(ParseProbe(p.SerializeAsString(), &q));
  p.set_ttl(0);
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
  p.set_ttl(256);
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
  p.set_ttl(3);
  p.set_hops(256);
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
  p.set_hops(0);
  p.set_origin(0);
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
  p.set_origin(1);
  p.set_kind(Probe::ECHO_REPLY);  // replies need a reporter
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
  p.set_reporter(2);
  p.set_reporter_name("b");
  EXPECT_TRUE(ParseProbe(p.SerializeAsString(), &q));
  p.set_kind(static_cast<Probe::Kind>(42));
  EXPECT_FALSE(ParseProbe(p.SerializeAsString(), &q));
}

TEST(MessagesTest, Goodbye) {
  std::string reason;
  ASSERT_TRUE(ParseGoodbye(EncodeGoodbye("wrong_key"), &reason));
  EXPECT_EQ(reason, "wrong_key");
  Goodbye g;
  g.set_reason("a\nb");
  ASSERT_TRUE(ParseGoodbye(g.SerializeAsString(), &reason));
  EXPECT_EQ(reason, "a_b");  // sanitized for logs
  g.set_reason(std::string(65, 'x'));
  EXPECT_FALSE(ParseGoodbye(g.SerializeAsString(), &reason));
}

}  // namespace
}  // namespace mesh
}  // namespace meshd
