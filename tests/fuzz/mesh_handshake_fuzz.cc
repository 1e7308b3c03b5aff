// Fuzzes the mesh handshake (meshd/mesh/handshake.h) as a node sees it:
// frames from an unauthenticated peer, decoded with the pre-handshake frame
// limit, driving a Handshake (Hello, then Auth).
//
// Input: byte 0: bit 0 picks our role (dialer/acceptor); bit 1 puts a
// genuine peer's Hello first (so the fuzzer works on the Auth and what
// follows); the rest is the byte stream from the peer.
//
// Properties: nothing crashes; the handshake never authenticates a peer
// with our own id or an invalid identity; once failed it stays failed; with
// a genuine Hello and the genuine Auth it does authenticate (the oracle is
// not broken), and nothing after that un-authenticates it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "meshd/mesh/frame.h"
#include "meshd/mesh/handshake.h"
#include "meshd/mesh/messages.h"

using meshd::HandshakeFailure;
using meshd::ProtocolError;
using namespace meshd::mesh;

namespace {

const char kKey[] = "fuzz-cluster-key-0123456789";

Nonce Fill(uint8_t b) {
  Nonce n;
  n.fill(b);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool dialer = data[0] & 1;
  const bool genuine_first = data[0] & 2;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  const auto role = dialer ? Handshake::Role::kDialer : Handshake::Role::kAcceptor;
  const auto peer_role = dialer ? Handshake::Role::kAcceptor : Handshake::Role::kDialer;
  Handshake us(role, 1, "us", std::string_view(kKey, sizeof kKey - 1), 1 << 20, Fill(0x11));
  Handshake peer(peer_role, 2, "peer", std::string_view(kKey, sizeof kKey - 1), 1 << 20, Fill(0x22));

  bool failed = false;
  if (genuine_first) {
    std::string auth_us, auth_peer;
    if (us.OnPeerHello(peer.hello(), &auth_us) != HandshakeFailure::kNone) std::abort();
    if (peer.OnPeerHello(us.hello(), &auth_peer) != HandshakeFailure::kNone) std::abort();
    // Half the time, the genuine Auth too: the rest must not undo it.
    if (data[0] & 4) {
      if (us.OnPeerAuth(auth_peer) != HandshakeFailure::kNone) std::abort();
      if (!us.authenticated()) std::abort();
    }
  }

  FrameDecoder dec(kMaxHandshakeFrameBytes);
  std::vector<Frame> frames;
  dec.Feed(stream, &frames);
  for (const Frame& f : frames) {
    if (f.payload.size() > kMaxHandshakeFrameBytes) std::abort();
    const bool was_authenticated = us.authenticated();
    HandshakeFailure r = HandshakeFailure::kNone;
    if (f.type == FrameType::kHello) {
      std::string auth;
      r = us.OnPeerHello(f.payload, &auth);
      if (r == HandshakeFailure::kNone && auth.empty()) std::abort();
    } else if (f.type == FrameType::kAuth) {
      r = us.OnPeerAuth(f.payload);
    } else {
      continue;
    }
    if (was_authenticated && !us.authenticated()) std::abort();
    if (failed && r == HandshakeFailure::kNone) std::abort();  // failed for good
    if (r != HandshakeFailure::kNone) failed = true;
    if (us.authenticated()) {
      if (us.peer().id == 0 || us.peer().id == 1 || !ValidNodeName(us.peer().name)) std::abort();
      if (us.version() != kProtocolVersion) std::abort();
    }
  }
  return 0;
}
