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

// Each side's Auth checked by the other, for a dialer and an acceptor with
// keys DIALER and ACCEPTOR.
struct Outcome {
  HandshakeFailure at_dialer, at_acceptor;  // each side's verdict on the other
  bool dialer_saw_accepted = false, acceptor_saw_accepted = false;
};
Outcome Authenticate(ClusterKeys dialer, ClusterKeys acceptor) {
  Handshake d(Handshake::Role::kDialer, 1, "a", std::make_shared<const ClusterKeys>(dialer), kMax,
              MakeNonce(1));
  Handshake a(Handshake::Role::kAcceptor, 2, "b", std::make_shared<const ClusterKeys>(acceptor),
              kMax, MakeNonce(2));
  std::string auth_d, auth_a;
  EXPECT_EQ(d.OnPeerHello(a.hello(), &auth_d), HandshakeFailure::kNone);
  EXPECT_EQ(a.OnPeerHello(d.hello(), &auth_a), HandshakeFailure::kNone);
  Outcome o{d.OnPeerAuth(auth_a), a.OnPeerAuth(auth_d)};
  o.dialer_saw_accepted = d.peer_proved_accepted_key();
  o.acceptor_saw_accepted = a.peer_proved_accepted_key();
  return o;
}

TEST(HandshakeTest, AcceptedKeysLetAKeyRotate) {
  const std::string old_key = kKey, new_key = "the-next-cluster-key-0123";
  // Step 1 on one node: it still proves the old key and accepts the new.
  // A node that has gone on to step 2 (proves the new, accepts the old)
  // talks to it both ways round.
  for (bool new_dials : {false, true}) {
    SCOPED_TRACE(new_dials ? "the step-2 node dials" : "the step-1 node dials");
    const ClusterKeys step1{old_key, {new_key}}, step2{new_key, {old_key}};
    const Outcome o = new_dials ? Authenticate(step2, step1) : Authenticate(step1, step2);
    EXPECT_EQ(o.at_dialer, HandshakeFailure::kNone);
    EXPECT_EQ(o.at_acceptor, HandshakeFailure::kNone);
    // Each proved its own key, which the other only accepts.
    EXPECT_TRUE(o.dialer_saw_accepted);
    EXPECT_TRUE(o.acceptor_saw_accepted);
  }
  // Same keys: nothing accepted, both proved the key they share.
  const Outcome same = Authenticate({new_key, {old_key}}, {new_key, {}});
  EXPECT_EQ(same.at_dialer, HandshakeFailure::kNone);
  EXPECT_EQ(same.at_acceptor, HandshakeFailure::kNone);
  EXPECT_FALSE(same.dialer_saw_accepted);
  EXPECT_FALSE(same.acceptor_saw_accepted);
  // Step 3 done (the old key dropped): a node still on the old key alone is
  // refused, and refuses.
  const Outcome late = Authenticate({old_key, {}}, {new_key, {}});
  EXPECT_EQ(late.at_dialer, HandshakeFailure::kWrongKey);
  EXPECT_EQ(late.at_acceptor, HandshakeFailure::kWrongKey);
  // An accepted key is taken from peers, never proved: a node that only
  // accepts the peer's key (and proves another) is refused by it.
  const Outcome one_way = Authenticate({old_key, {new_key}}, {new_key, {}});
  EXPECT_EQ(one_way.at_dialer, HandshakeFailure::kNone);
  EXPECT_EQ(one_way.at_acceptor, HandshakeFailure::kWrongKey);
}

TEST(HandshakeTest, KeyIdsNameKeysWithoutShowingThem) {
  EXPECT_EQ(ClusterKeyId(kKey), ClusterKeyId(kKey));
  EXPECT_NE(ClusterKeyId(kKey), ClusterKeyId(kKey + "x"));
  EXPECT_EQ(ClusterKeyId(kKey).size(), 8u);
  EXPECT_EQ(ClusterKeyId(kKey).find_first_not_of("0123456789abcdef"), std::string::npos);
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
