#include "meshd/mesh/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "meshd/mesh/messages.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace mesh {

namespace {

constexpr char kMacLabel[] = "syslink-mesh-auth-v1";

void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutName(std::string* s, std::string_view name) {
  // Names are at most 63 bytes (validated before a MAC is computed).
  s->push_back(static_cast<char>(std::min<size_t>(name.size(), 255)));
  s->append(name.substr(0, 255));
}

void PutSha256(std::string* s, std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  s->append(reinterpret_cast<const char*>(d), sizeof d);
}

}  // namespace

std::string ClusterKeyId(std::string_view key) {
  std::string input = "syslink-mesh-key-id";
  input.append(key.data(), key.size());
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), d);
  OPENSSL_cleanse(input.data(), input.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; i++) {
    id += kHex[d[i] >> 4];
    id += kHex[d[i] & 15];
  }
  return id;
}

bool RandomNonce(Nonce* nonce) { return RAND_bytes(nonce->data(), static_cast<int>(nonce->size())) == 1; }

Handshake::Handshake(Role role, NodeId self_id, std::string self_name, std::string_view key,
                     uint32_t max_frame_bytes, const Nonce& nonce)
    : Handshake(role, self_id, std::move(self_name),
                std::make_shared<const ClusterKeys>(ClusterKeys{std::string(key), {}}),
                max_frame_bytes, nonce) {}

Handshake::Handshake(Role role, NodeId self_id, std::string self_name,
                     std::shared_ptr<const ClusterKeys> keys, uint32_t max_frame_bytes,
                     const Nonce& nonce)
    : role_(role), keys_(std::move(keys)), nonce_(nonce) {
  assert(keys_ != nullptr);
  self_.id = self_id;
  self_.name = std::move(self_name);
  self_.nonce = nonce;
  self_.version_min = kProtocolVersion;
  self_.version_max = kProtocolVersion;
  self_.capabilities = 0;
  self_.max_frame_bytes = max_frame_bytes;
  Hello h;
  h.set_version_min(self_.version_min);
  h.set_version_max(self_.version_max);
  h.set_node_name(self_.name);
  h.set_node_id(self_.id);
  h.set_nonce(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  h.set_capabilities(self_.capabilities);
  h.set_max_frame_bytes(self_.max_frame_bytes);
  hello_ = h.SerializeAsString();
}

Mac Handshake::ComputeMac(std::string_view key, Role prover, uint32_t version,
                          const PeerHello& dialer, std::string_view dialer_hello,
                          const PeerHello& acceptor, std::string_view acceptor_hello) {
  std::string in;
  in.reserve(256);
  in.append(kMacLabel, sizeof kMacLabel - 1);
  in.push_back(static_cast<char>(prover));
  PutU32(&in, version);
  in.append(reinterpret_cast<const char*>(dialer.nonce.data()), kNonceBytes);
  in.append(reinterpret_cast<const char*>(acceptor.nonce.data()), kNonceBytes);
  PutU64(&in, dialer.id);
  PutName(&in, dialer.name);
  PutU64(&in, acceptor.id);
  PutName(&in, acceptor.name);
  PutSha256(&in, dialer_hello);
  PutSha256(&in, acceptor_hello);
  Mac mac{};
  unsigned int len = 0;
  unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                          reinterpret_cast<const unsigned char*>(in.data()), in.size(), mac.data(), &len);
  // HMAC-SHA256 with a valid digest cannot fail short of memory exhaustion;
  // an all-zero MAC then simply never verifies against a real one.
  if (r == nullptr || len != kMacBytes) mac.fill(0);
  return mac;
}

HandshakeFailure Handshake::OnPeerHello(std::string_view payload, std::string* auth) {
  if (failed_ || have_peer_hello_) {
    failed_ = true;
    return HandshakeFailure::kBadHello;
  }
  Hello h;
  if (payload.size() > kMaxHandshakeFrameBytes ||
      !h.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || h.node_id() == 0 ||
      !ValidNodeName(h.node_name()) || h.nonce().size() != kNonceBytes ||
      h.max_frame_bytes() < kMinMaxFrameBytes || h.version_min() > h.version_max()) {
    failed_ = true;
    return HandshakeFailure::kBadHello;
  }
  PeerHello p;
  p.id = h.node_id();
  p.name = h.node_name();
  memcpy(p.nonce.data(), h.nonce().data(), kNonceBytes);
  p.version_min = h.version_min();
  p.version_max = h.version_max();
  p.capabilities = h.capabilities();
  p.max_frame_bytes = h.max_frame_bytes();
  if (p.id == self_.id) {
    failed_ = true;
    return HandshakeFailure::kSelf;
  }
  // Our own challenge sent back: a reflection (or astronomically bad luck).
  if (CRYPTO_memcmp(p.nonce.data(), nonce_.data(), kNonceBytes) == 0) {
    failed_ = true;
    return HandshakeFailure::kBadHello;
  }
  const uint32_t lo = std::max(p.version_min, self_.version_min);
  const uint32_t hi = std::min(p.version_max, self_.version_max);
  if (lo > hi) {
    failed_ = true;
    return HandshakeFailure::kVersion;
  }
  version_ = hi;
  capabilities_ = p.capabilities & self_.capabilities;
  peer_ = std::move(p);
  peer_hello_bytes_ = std::string(payload);
  have_peer_hello_ = true;

  const bool dialer = role_ == Role::kDialer;
  const Mac mac = ComputeMac(keys_->key, role_, version_, dialer ? self_ : peer_,
                             dialer ? std::string_view(hello_) : std::string_view(peer_hello_bytes_),
                             dialer ? peer_ : self_,
                             dialer ? std::string_view(peer_hello_bytes_) : std::string_view(hello_));
  Auth a;
  a.set_mac(reinterpret_cast<const char*>(mac.data()), mac.size());
  *auth = a.SerializeAsString();
  return HandshakeFailure::kNone;
}

HandshakeFailure Handshake::OnPeerAuth(std::string_view payload) {
  if (failed_ || !have_peer_hello_ || authenticated_) {
    failed_ = true;
    return HandshakeFailure::kBadHello;
  }
  Auth a;
  if (payload.size() > kMaxHandshakeFrameBytes ||
      !a.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      a.mac().size() != kMacBytes) {
    failed_ = true;
    return HandshakeFailure::kBadHello;
  }
  const bool dialer = role_ == Role::kDialer;
  const Role peer_role = dialer ? Role::kAcceptor : Role::kDialer;
  auto proves = [&](std::string_view key) {
    const Mac want =
        ComputeMac(key, peer_role, version_, dialer ? self_ : peer_,
                   dialer ? std::string_view(hello_) : std::string_view(peer_hello_bytes_),
                   dialer ? peer_ : self_,
                   dialer ? std::string_view(peer_hello_bytes_) : std::string_view(hello_));
    return CRYPTO_memcmp(want.data(), a.mac().data(), kMacBytes) == 0;
  };
  if (!proves(keys_->key)) {
    if (!std::any_of(keys_->accepted.begin(), keys_->accepted.end(), proves)) {
      failed_ = true;
      return HandshakeFailure::kWrongKey;
    }
    peer_proved_accepted_ = true;
  }
  authenticated_ = true;
  return HandshakeFailure::kNone;
}

}  // namespace mesh
}  // namespace meshd
