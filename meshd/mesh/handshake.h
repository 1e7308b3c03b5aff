// Handshake: the authentication of one mesh link, as a pure state machine
// (no I/O). Both sides send a Hello at once; on the peer's Hello each sends
// an Auth, an HMAC-SHA256 with the cluster key over both Hellos and its own
// role; on the peer's Auth each verifies the MAC (constant time), against
// its cluster key and any key it also accepts (a key rotation: see
// ClusterKeys). The key never crosses the wire, a MAC made for one
// connection (nonces) and role (dialer or acceptor) is worthless on any
// other, so it cannot be replayed or reflected. What comes after (admission checks, Ready) is link.cc's.
//
//   Handshake hs(Handshake::Role::kDialer, {my_id, "a"}, key, max_frame, nonce);
//   send(HELLO, hs.hello());
//   std::string auth;
//   if (hs.OnPeerHello(peer_hello, &auth) != HandshakeFailure::kNone) close();
//   send(AUTH, auth);
//   if (hs.OnPeerAuth(peer_auth) != HandshakeFailure::kNone) close();
//   // hs.peer() is authenticated: admit it, send READY.
//
// MAC input (docs/mesh.md), for the side proving in role R (1 dialer, 2
// acceptor):
//   "syslink-mesh-auth-v1" | u8 R | u32le version |
//   dialer nonce (32) | acceptor nonce (32) |
//   u64le dialer id | u8 len | dialer name | u64le acceptor id | u8 len | acceptor name |
//   SHA-256(dialer Hello payload) | SHA-256(acceptor Hello payload)
#ifndef MESHD_MESH_HANDSHAKE_H_
#define MESHD_MESH_HANDSHAKE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshd/mesh/mesh_types.h"

namespace meshd {
namespace mesh {

// 2: relay MSG frames carry credit in their header's value (protocol.md §4).
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
// The smallest max_frame_bytes a node may announce (an LSA of 1024
// neighbors fits easily).
inline constexpr uint32_t kMinMaxFrameBytes = 64 * 1024;
// Largest handshake frame accepted (the decoder's limit until the link is
// established).
inline constexpr uint32_t kMaxHandshakeFrameBytes = 4096;

using Nonce = std::array<uint8_t, kNonceBytes>;
using Mac = std::array<uint8_t, kMacBytes>;

// Fills *NONCE with cryptographically random bytes. Returns false if the
// system's random source failed.
bool RandomNonce(Nonce* nonce);

// The keys of one node: it proves KEY, and takes a peer that proves KEY or
// any of ACCEPTED. Rotating a cluster's key without a flag day: every node
// accepts the new key, then proves it (accepting the old), then drops the
// old (docs/operations.md).
struct ClusterKeys {
  std::string key;
  std::vector<std::string> accepted;
};

// A short public name for KEY, for logs: 8 hex digits of SHA-256 over a
// fixed prefix and the key. Nodes that print the same id hold the same key
// (the id reveals no more about the key than the MACs on the wire do).
std::string ClusterKeyId(std::string_view key);

class Handshake {
 public:
  enum class Role : uint8_t { kDialer = 1, kAcceptor = 2 };

  // What a Hello says about its sender.
  struct PeerHello {
    NodeId id = 0;
    std::string name;
    Nonce nonce{};
    uint32_t version_min = 0, version_max = 0;
    uint64_t capabilities = 0;
    uint32_t max_frame_bytes = 0;
  };

  // ROLE: whether this side dialed. SELF_ID (nonzero) and SELF_NAME (valid)
  // identify this node; KEYS (not null) are its keys, held for the
  // Handshake's life (a node may change its keys meanwhile);
  // MAX_FRAME_BYTES is what this node accepts; NONCE must be fresh random
  // bytes (RandomNonce).
  Handshake(Role role, NodeId self_id, std::string self_name,
            std::shared_ptr<const ClusterKeys> keys, uint32_t max_frame_bytes,
            const Nonce& nonce);
  // The same with one key (copied), accepting no other.
  Handshake(Role role, NodeId self_id, std::string self_name, std::string_view key,
            uint32_t max_frame_bytes, const Nonce& nonce);

  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // The Hello payload to send first.
  const std::string& hello() const { return hello_; }

  // Takes the peer's Hello payload. On success (kNone) sets *AUTH to the
  // Auth payload to send, and peer() is filled in (not yet authenticated).
  // Failures: kBadHello (unparsable, bad name, id 0, nonce not 32 bytes, our
  // own nonce reflected, max_frame_bytes too small, a second Hello),
  // kVersion (no common version), kSelf (the peer has our id).
  HandshakeFailure OnPeerHello(std::string_view payload, std::string* auth);

  // Takes the peer's Auth payload. kNone if its MAC proves this node's key,
  // or one it accepts, for this connection and the peer's role; kWrongKey if
  // not; kBadHello if it does not parse or comes before the peer's Hello or
  // twice.
  HandshakeFailure OnPeerAuth(std::string_view payload);
  // After OnPeerAuth() succeeded: true if the peer proved one of the
  // accepted keys rather than this node's own.
  bool peer_proved_accepted_key() const { return peer_proved_accepted_; }

  // True once OnPeerAuth() succeeded.
  bool authenticated() const { return authenticated_; }
  // Valid after OnPeerHello() succeeded.
  const PeerHello& peer() const { return peer_; }
  Role role() const { return role_; }
  const Nonce& nonce() const { return nonce_; }
  // The agreed version and capabilities (after OnPeerHello()).
  uint32_t version() const { return version_; }
  uint64_t capabilities() const { return capabilities_; }

  // The MAC that the side in role PROVER sends, for a connection whose
  // dialer sent DIALER_HELLO (parsed: DIALER) and whose acceptor sent
  // ACCEPTOR_HELLO (ACCEPTOR), at VERSION. Exposed for tests.
  static Mac ComputeMac(std::string_view key, Role prover, uint32_t version,
                        const PeerHello& dialer, std::string_view dialer_hello,
                        const PeerHello& acceptor, std::string_view acceptor_hello);

 private:
  const Role role_;
  const std::shared_ptr<const ClusterKeys> keys_;
  const Nonce nonce_;
  PeerHello self_;
  std::string hello_;
  bool have_peer_hello_ = false;
  bool authenticated_ = false;
  bool peer_proved_accepted_ = false;
  bool failed_ = false;
  PeerHello peer_;
  std::string peer_hello_bytes_;
  uint32_t version_ = 0;
  uint64_t capabilities_ = 0;
};

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_HANDSHAKE_H_
