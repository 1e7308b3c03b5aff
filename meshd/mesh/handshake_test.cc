#include "meshd/mesh/handshake.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace mesh {
namespace {

const std::string kKey = "0123456789abcdef-cluster-key";
constexpr uint32_t kMax = 1 << 20;

Nonce MakeNonce(uint8_t fill) {
  Nonce n;
  n.fill(fill);
  return n;
}

struct Pair {
  Handshake dialer{Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1)};
  std::string acceptor_key = kKey;
  std::unique_ptr<Handshake> acceptor;
  explicit Pair(std::string key = kKey) : acceptor_key(std::move(key)) {
    acceptor = std::make_unique<Handshake>(Handshake::Role::kAcceptor, 2, "b", acceptor_key, kMax,
                                           MakeNonce(2));
  }
};

TEST(HandshakeTest, GoodKey) {
  Pair p;
  std::string auth_d, auth_a;
  ASSERT_EQ(p.dialer.OnPeerHello(p.acceptor->hello(), &auth_d), HandshakeFailure::kNone);
  ASSERT_EQ(p.acceptor->OnPeerHello(p.dialer.hello(), &auth_a), HandshakeFailure::kNone);
  EXPECT_EQ(p.dialer.peer().id, 2u);
  EXPECT_EQ(p.dialer.peer().name, "b");
  EXPECT_EQ(p.acceptor->peer().name, "a");
  EXPECT_EQ(p.dialer.version(), kProtocolVersion);
  EXPECT_FALSE(p.dialer.authenticated());
  EXPECT_EQ(p.dialer.OnPeerAuth(auth_a), HandshakeFailure::kNone);
  EXPECT_EQ(p.acceptor->OnPeerAuth(auth_d), HandshakeFailure::kNone);
  EXPECT_TRUE(p.dialer.authenticated());
  EXPECT_TRUE(p.acceptor->authenticated());
  // The two MACs differ (roles), and neither contains the key.
  EXPECT_NE(auth_a, auth_d);
  EXPECT_EQ(auth_a.find(kKey), std::string::npos);
}

TEST(HandshakeTest, WrongKey) {
  Pair p("another-key-of-16+bytes");
  std::string auth_d, auth_a;
  ASSERT_EQ(p.dialer.OnPeerHello(p.acceptor->hello(), &auth_d), HandshakeFailure::kNone);
  ASSERT_EQ(p.acceptor->OnPeerHello(p.dialer.hello(), &auth_a), HandshakeFailure::kNone);
  EXPECT_EQ(p.dialer.OnPeerAuth(auth_a), HandshakeFailure::kWrongKey);
  EXPECT_EQ(p.acceptor->OnPeerAuth(auth_d), HandshakeFailure::kWrongKey);
  EXPECT_FALSE(p.dialer.authenticated());
  // Failed for good: a later correct Auth does not rescue it.
  EXPECT_NE(p.dialer.OnPeerAuth(auth_a), HandshakeFailure::kNone);
}

TEST(HandshakeTest, ReflectedMacIsRefused) {
  // An attacker without the key echoes the dialer's own MAC back to it: same
  // nonces and identities, but the dialer's role, so it does not verify.
  Pair p;
  std::string auth_d, auth_a;
  ASSERT_EQ(p.dialer.OnPeerHello(p.acceptor->hello(), &auth_d), HandshakeFailure::kNone);
  EXPECT_EQ(p.dialer.OnPeerAuth(auth_d), HandshakeFailure::kWrongKey);
}

TEST(HandshakeTest, ReflectedHelloIsRefused) {
  // Our own Hello sent back: our id (self) ...
  Handshake d(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  std::string auth;
  EXPECT_EQ(d.OnPeerHello(d.hello(), &auth), HandshakeFailure::kSelf);
  // ... and with another identity but our nonce: a reflection.
  Handshake e(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  Hello h;
  h.set_version_min(1);
  h.set_version_max(1);
  h.set_node_name("b");
  h.set_node_id(2);
  h.set_nonce(std::string(kNonceBytes, '\x01'));
  h.set_max_frame_bytes(kMax);
  EXPECT_EQ(e.OnPeerHello(h.SerializeAsString(), &auth), HandshakeFailure::kBadHello);
}

TEST(HandshakeTest, ReplayFromAnotherConnectionIsRefused) {
  // A MAC recorded on one connection is worthless on the next (new nonces).
  Pair first;
  std::string auth_d, auth_a;
  ASSERT_EQ(first.acceptor->OnPeerHello(first.dialer.hello(), &auth_a), HandshakeFailure::kNone);
  Handshake d2(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(3));
  ASSERT_EQ(d2.OnPeerHello(first.acceptor->hello(), &auth_d), HandshakeFailure::kNone);
  EXPECT_EQ(d2.OnPeerAuth(auth_a), HandshakeFailure::kWrongKey);
}

TEST(HandshakeTest, VersionMismatch) {
  Handshake d(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  Hello h;
  h.set_version_min(kProtocolVersion + 1);
  h.set_version_max(kProtocolVersion + 4);
  h.set_node_name("b");
  h.set_node_id(2);
  h.set_nonce(std::string(kNonceBytes, '\x02'));
  h.set_max_frame_bytes(kMax);
  std::string auth;
  EXPECT_EQ(d.OnPeerHello(h.SerializeAsString(), &auth), HandshakeFailure::kVersion);
  // A range that includes ours is fine.
  Handshake d2(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  h.set_version_min(kProtocolVersion);
  EXPECT_EQ(d2.OnPeerHello(h.SerializeAsString(), &auth), HandshakeFailure::kNone);
  EXPECT_EQ(d2.version(), kProtocolVersion);
  // A peer that only speaks an older version is refused.
  Handshake d3(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  h.set_version_min(1);
  h.set_version_max(kProtocolVersion - 1);
  EXPECT_EQ(d3.OnPeerHello(h.SerializeAsString(), &auth), HandshakeFailure::kVersion);
}

TEST(HandshakeTest, MalformedHellos) {
  auto valid = [] {
    Hello h;
    h.set_version_min(kProtocolVersion);
    h.set_version_max(kProtocolVersion);
    h.set_node_name("b");
    h.set_node_id(2);
    h.set_nonce(std::string(kNonceBytes, '\x02'));
    h.set_max_frame_bytes(kMax);
    return h;
  };
  auto refused = [](const Hello& h) {
    Handshake d(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
    std::string auth;
    return d.OnPeerHello(h.SerializeAsString(), &auth);
  };
  EXPECT_EQ(refused(valid()), HandshakeFailure::kNone);
  Hello h = valid();
  h.set_node_id(0);
  EXPECT_EQ(refused(h), HandshakeFailure::kBadHello);
  h = valid();
  h.set_node_name("bad name");
  EXPECT_EQ(refused(h), HandshakeFailure::kBadHello);
  h = valid();
  h.set_nonce("short");
  EXPECT_EQ(refused(h), HandshakeFailure::kBadHello);
  h = valid();
  h.set_max_frame_bytes(1000);
  EXPECT_EQ(refused(h), HandshakeFailure::kBadHello);
  h = valid();
  h.set_version_min(3);
  h.set_version_max(2);
  EXPECT_EQ(refused(h), HandshakeFailure::kBadHello);
  Handshake d(Handshake::Role::kDialer, 1, "a", kKey, kMax, MakeNonce(1));
  std::string auth;
  EXPECT_EQ(d.OnPeerHello("\xff\xff\xff", &auth), HandshakeFailure::kBadHello);
}

TEST(HandshakeTest, OutOfOrder) {
  Pair p;
  std::string auth;
  // Auth before Hello.
  EXPECT_EQ(p.dialer.OnPeerAuth("x"), HandshakeFailure::kBadHello);
  Pair q;
  ASSERT_EQ(q.dialer.OnPeerHello(q.acceptor->hello(), &auth), HandshakeFailure::kNone);
  // A second Hello.
  EXPECT_EQ(q.dialer.OnPeerHello(q.acceptor->hello(), &auth), HandshakeFailure::kBadHello);
  // A short MAC.
  Pair r;
  ASSERT_EQ(r.dialer.OnPeerHello(r.acceptor->hello(), &auth), HandshakeFailure::kNone);
  Auth a;
  a.set_mac("short");
  EXPECT_EQ(r.dialer.OnPeerAuth(a.SerializeAsString()), HandshakeFailure::kBadHello);
}

TEST(HandshakeTest, MacCoversEveryInput) {
  Handshake::PeerHello d, a;
  d.id = 1;
  d.name = "a";
  d.nonce = MakeNonce(1);
  a.id = 2;
  a.name = "b";
  a.nonce = MakeNonce(2);
  const Mac base = Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d, "hd", a, "ha");
  EXPECT_EQ(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d, "hd", a, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey + "x", Handshake::Role::kDialer, 1, d, "hd", a, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kAcceptor, 1, d, "hd", a, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 2, d, "hd", a, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, a, "hd", d, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d, "hX", a, "ha"));
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d, "hd", a, "hX"));
  Handshake::PeerHello d2 = d;
  d2.nonce[31] ^= 1;
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d2, "hd", a, "ha"));
  d2 = d;
  d2.name = "aa";
  EXPECT_NE(base, Handshake::ComputeMac(kKey, Handshake::Role::kDialer, 1, d2, "hd", a, "ha"));
}

TEST(HandshakeTest, RandomNonces) {
  Nonce a, b;
  ASSERT_TRUE(RandomNonce(&a));
  ASSERT_TRUE(RandomNonce(&b));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace mesh
}  // namespace meshd
