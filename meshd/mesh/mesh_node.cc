// MeshNode: lifecycle, listener, dialers, links and deferred handler calls.
// Routing and ping/trace are in mesh_routing.cc.
#include "meshd/mesh/mesh_node.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "meshd/mesh/handshake.h"
#include "meshd/mesh/messages.h"
#include "meshd/mesh/mesh_node_impl.h"

namespace meshd {

using mesh::Link;

namespace {

constexpr int kMaxAcceptsPerWakeup = 64;
constexpr size_t kMinClusterKeyBytes = 16;
constexpr int kMaxWorkRounds = 16;

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction, Start, Stop.

MeshNode::Impl::Impl(uv_loop_t* loop, Options options, Handler* handler)
    : loop_(loop), options_(std::move(options)), handler_(handler) {
  link_config_.keys = std::make_shared<const mesh::ClusterKeys>(
      mesh::ClusterKeys{options_.cluster_key, options_.accepted_cluster_keys});
  uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1) {
    seed = uv_hrtime() ^ static_cast<uint64_t>(getpid());
  }
  rng_.seed(seed);
}

MeshNode::Impl::~Impl() {
  if (state_ == State::kRunning || state_ == State::kStopping) {
    fprintf(stderr, "meshd: MeshNode destroyed while running: call Stop() and run the loop "
                    "until stopped()\n");
    abort();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
}

absl::Status MeshNode::Impl::ValidateKeys(const std::string& key,
                                          const std::vector<std::string>& accepted) {
  if (key.size() < kMinClusterKeyBytes) {
    return absl::InvalidArgumentError("cluster key must be at least 16 bytes");
  }
  for (const std::string& k : accepted) {
    if (k.size() < kMinClusterKeyBytes) {
      return absl::InvalidArgumentError("an accepted cluster key must be at least 16 bytes");
    }
  }
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::ValidatePeers(const std::vector<Peer>& peers) const {
  const Options& o = options_;
  if (peers.size() >= o.max_nodes && !peers.empty()) {
    return absl::InvalidArgumentError("more peers than max_nodes - 1");
  }
  mesh::HostPort hp;
  absl::flat_hash_set<std::string_view> addresses;
  for (const Peer& p : peers) {
    if (!mesh::ParseHostPort(p.address, false, &hp)) {
      return absl::InvalidArgumentError("bad peer address: \"" + p.address + "\"");
    }
    if (!p.name.empty() && !mesh::ValidNodeName(p.name)) {
      return absl::InvalidArgumentError("bad peer name: \"" + p.name + "\"");
    }
    if (p.name == o.node_name) return absl::InvalidArgumentError("a peer has this node's name");
    if (!addresses.insert(p.address).second) {
      return absl::InvalidArgumentError("peer address given twice: \"" + p.address + "\"");
    }
  }
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::ValidateTimers(const Timers& t) {
  if (t.heartbeat_interval_ms < 1) return absl::InvalidArgumentError("heartbeat_interval_ms must be >= 1");
  if (t.dead_interval_ms <= 2ull * t.heartbeat_interval_ms) {
    return absl::InvalidArgumentError("dead_interval_ms must be more than twice heartbeat_interval_ms");
  }
  if (t.backoff_min_ms < 1 || t.backoff_max_ms < t.backoff_min_ms) {
    return absl::InvalidArgumentError("need 1 <= backoff_min_ms <= backoff_max_ms");
  }
  return absl::OkStatus();
}

uint64_t MeshNode::Impl::TickMs() const {
  // Ticks drive heartbeats, dead intervals and handshake timeouts.
  return std::clamp<uint64_t>(
      std::min<uint64_t>(options_.heartbeat_interval_ms, options_.dead_interval_ms / 4) / 2, 1, 100);
}

absl::Status MeshNode::Impl::ValidateOptions() const {
  const Options& o = options_;
  if (!mesh::ValidNodeName(o.node_name)) {
    return absl::InvalidArgumentError("node name must be 1-63 characters of [A-Za-z0-9._-]: \"" +
                                      o.node_name + "\"");
  }
  if (o.node_id == 0) return absl::InvalidArgumentError("node id must not be 0");
  if (absl::Status s = ValidateKeys(o.cluster_key, o.accepted_cluster_keys); !s.ok()) return s;
  if (absl::Status s = ValidateTimers({o.heartbeat_interval_ms, o.dead_interval_ms,
                                       o.backoff_min_ms, o.backoff_max_ms});
      !s.ok()) {
    return s;
  }
  if (o.max_frame_bytes < mesh::kMinMaxFrameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_frame_bytes must be >= ", mesh::kMinMaxFrameBytes));
  }
  if (o.max_link_queued_bytes < o.max_frame_bytes) {
    return absl::InvalidArgumentError("max_link_queued_bytes must be >= max_frame_bytes");
  }
  if (o.max_nodes < 1) return absl::InvalidArgumentError("max_nodes must be >= 1");
  if (o.connect_timeout_ms < 1 || o.handshake_timeout_ms < 1) {
    return absl::InvalidArgumentError("timeouts must be >= 1 ms");
  }
  if (o.max_pending_handshakes < 1) return absl::InvalidArgumentError("max_pending_handshakes must be >= 1");
  if (o.lsa_refresh_interval_ms < 1 || o.lsa_max_age_ms <= o.lsa_refresh_interval_ms) {
    return absl::InvalidArgumentError("need 1 <= lsa_refresh_interval_ms < lsa_max_age_ms");
  }
  if (o.link_cost < 1 || o.link_cost > mesh::kMaxLinkCost) {
    return absl::InvalidArgumentError("link_cost must be 1..65535");
  }
  if (o.probe_ttl < 1 || o.probe_ttl > mesh::kMaxProbeTtl) {
    return absl::InvalidArgumentError("probe_ttl must be 1..255");
  }
  mesh::HostPort hp;
  if (!o.listen_address.empty() && !mesh::ParseHostPort(o.listen_address, true, &hp)) {
    return absl::InvalidArgumentError("bad listen address: \"" + o.listen_address + "\"");
  }
  if (absl::Status s = ValidatePeers(o.peers); !s.ok()) return s;
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::Listen() {
  mesh::HostPort hp;
  mesh::ParseHostPort(options_.listen_address, true, &hp);  // validated
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (!mesh::NumericSockaddr(hp, &ss, &len)) {
    struct addrinfo hints = {};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo* res = nullptr;
    const std::string port = std::to_string(hp.port);
    const int r = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
    if (r != 0 || res == nullptr) {
      return absl::UnavailableError("cannot resolve listen address " + options_.listen_address +
                                    ": " + gai_strerror(r));
    }
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    freeaddrinfo(res);
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) != 0) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError("bind " + options_.listen_address + ": " + strerror(e));
  }
  if (listen(fd, 128) != 0) {
    const int e = errno;
    close(fd);
    return absl::InternalError(std::string("listen: ") + strerror(e));
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&bound), &blen) == 0) {
    if (bound.ss_family == AF_INET) {
      listen_port_ = ntohs(reinterpret_cast<struct sockaddr_in*>(&bound)->sin_port);
    } else if (bound.ss_family == AF_INET6) {
      listen_port_ = ntohs(reinterpret_cast<struct sockaddr_in6*>(&bound)->sin6_port);
    }
  }
  const int r = uv_poll_init_socket(loop_, &listen_poll_, fd);
  if (r != 0) {
    close(fd);
    return absl::InternalError(std::string("uv_poll_init: ") + uv_strerror(r));
  }
  listen_fd_ = fd;
  listen_poll_.data = this;
  uv_poll_start(&listen_poll_, UV_READABLE, OnListenEvent);
  listening_ = true;
  open_handles_++;
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::SetClusterKeys(std::string key, std::vector<std::string> accepted) {
  if (absl::Status s = ValidateKeys(key, accepted); !s.ok()) return s;
  // Handshakes under way keep the keys they started with.
  link_config_.keys = std::make_shared<const mesh::ClusterKeys>(
      mesh::ClusterKeys{std::move(key), std::move(accepted)});
  return absl::OkStatus();
}

std::vector<std::string> MeshNode::Impl::ClusterKeyIds() const {
  std::vector<std::string> ids = {mesh::ClusterKeyId(link_config_.keys->key)};
  for (const std::string& k : link_config_.keys->accepted) ids.push_back(mesh::ClusterKeyId(k));
  return ids;
}

MeshNode::Impl::Dialer* MeshNode::Impl::AddDialer(const Peer& p) {
  auto d = std::make_unique<Dialer>();
  d->node = this;
  d->peer = p;
  mesh::ParseHostPort(p.address, false, &d->hp);  // validated
  d->backoff_ms = options_.backoff_min_ms;
  uv_timer_init(loop_, &d->timer);
  d->timer.data = d.get();
  open_handles_++;
  dialers_.push_back(std::move(d));
  return dialers_.back().get();
}

void MeshNode::Impl::RetireDialer(Dialer* d) {
  // No more dialing; a link still connecting goes, one that is up stays
  // until it ends (it is then like a link the peer dialed).
  d->retired = true;
  d->timer_armed = false;
  std::vector<LinkId> connecting;
  for (auto& [id, slot] : links_) {
    if (slot.dialer != d) continue;
    slot.dialer = nullptr;
    if (!slot.link->established()) connecting.push_back(id);
  }
  d->link = 0;
  for (LinkId id : connecting) {
    Link* l = FindLink(id);
    if (l != nullptr && !l->closing()) {
      l->Close(LinkCloseReason::kStopped, "peer removed from the config", true);
    }
  }
  uv_timer_stop(&d->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->timer), [](uv_handle_t* h) {
    auto* d = static_cast<Dialer*>(h->data);
    d->timer_closed = true;
    d->node->open_handles_--;
    d->node->FreeRetired(d);
  });
  // A name lookup under way ends in OnResolved, which frees D.
  if (d->resolving != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(d->resolving));
}

void MeshNode::Impl::FreeRetired(Dialer* d) {
  if (!d->timer_closed || d->resolving != nullptr) return;
  auto it = std::find_if(dialers_.begin(), dialers_.end(),
                         [d](const auto& p) { return p.get() == d; });
  assert(it != dialers_.end());
  dialers_.erase(it);
  MaybeFinishStop();
}

absl::Status MeshNode::Impl::SetTimers(const Timers& t) {
  if (state_ != State::kRunning) return absl::FailedPreconditionError("the node is not running");
  if (absl::Status s = ValidateTimers(t); !s.ok()) return s;
  options_.heartbeat_interval_ms = t.heartbeat_interval_ms;
  options_.dead_interval_ms = t.dead_interval_ms;
  options_.backoff_min_ms = t.backoff_min_ms;
  options_.backoff_max_ms = t.backoff_max_ms;
  link_config_.heartbeat_interval_ms = t.heartbeat_interval_ms;  // links read it each tick
  link_config_.dead_interval_ms = t.dead_interval_ms;
  const uint64_t tick_ms = TickMs();
  uv_timer_start(&tick_, OnTick, tick_ms, tick_ms);
  for (auto& d : dialers_) {
    if (d->retired) continue;
    d->backoff_ms = std::clamp<uint64_t>(d->backoff_ms, t.backoff_min_ms, t.backoff_max_ms);
    if (d->timer_armed && uv_timer_get_due_in(&d->timer) > t.backoff_max_ms) {
      ScheduleDial(d.get(), Jitter(t.backoff_max_ms));
    }
  }
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::SetPeers(std::vector<Peer> peers) {
  if (state_ != State::kRunning) return absl::FailedPreconditionError("the node is not running");
  if (absl::Status s = ValidatePeers(peers); !s.ok()) return s;
  std::vector<std::string> added, removed;
  std::vector<Dialer*> retire;
  for (auto& d : dialers_) {
    if (d->retired) continue;
    const bool kept = std::any_of(peers.begin(), peers.end(),
                                  [&](const Peer& p) { return p.address == d->peer.address; });
    if (kept) continue;
    removed.push_back(d->peer.address);
    retire.push_back(d.get());
  }
  for (Dialer* d : retire) RetireDialer(d);
  for (const Peer& p : peers) {
    auto it = std::find_if(dialers_.begin(), dialers_.end(), [&](const auto& d) {
      return !d->retired && d->peer.address == p.address;
    });
    if (it != dialers_.end()) {
      (*it)->peer.name = p.name;  // checked from the next admission on
      continue;
    }
    added.push_back(p.address);
    ScheduleDial(AddDialer(p), 0);
  }
  if (!added.empty() || !removed.empty()) {
    common::Log(common::LogLevel::kInfo, "mesh", "peers changed")
        .Kv("added", absl::StrJoin(added, ","))
        .Kv("removed", absl::StrJoin(removed, ","));
  }
  return absl::OkStatus();
}

absl::Status MeshNode::Impl::Start() {
  if (state_ != State::kNew) return absl::FailedPreconditionError("MeshNode::Start called twice");
  if (absl::Status s = ValidateOptions(); !s.ok()) return s;
  lsdb_ = std::make_unique<mesh::LinkStateDb>(options_.node_id, options_.node_name, options_.max_nodes);
  if (!options_.listen_address.empty()) {
    if (absl::Status s = Listen(); !s.ok()) {
      lsdb_.reset();
      return s;
    }
  }
  link_config_.loop = loop_;
  link_config_.self_id = options_.node_id;
  link_config_.self_name = options_.node_name;
  link_config_.max_frame_bytes = options_.max_frame_bytes;
  link_config_.heartbeat_interval_ms = options_.heartbeat_interval_ms;
  link_config_.dead_interval_ms = options_.dead_interval_ms;
  link_config_.connect_timeout_ms = options_.connect_timeout_ms;
  link_config_.handshake_timeout_ms = options_.handshake_timeout_ms;
  link_config_.max_queued_bytes = options_.max_link_queued_bytes;
  // A database exchange sends up to max_nodes adverts at once; heartbeats
  // and probes come on top.
  // Generous for a big mesh in churn (every origin re-advertising a few
  // times a second), and still a bound.
  link_config_.control_burst = 8 * options_.max_nodes + 4096;
  link_config_.control_rate_per_s = 4 * options_.max_nodes + 4096;
  link_config_.counters = &counters_;
  link_config_.stranger_log = &stranger_log_;

  uv_idle_init(loop_, &idle_);
  idle_.data = this;
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_init(loop_, &probe_timer_);
  probe_timer_.data = this;
  open_handles_ += 2;
  state_ = State::kRunning;

  for (const Peer& p : options_.peers) AddDialer(p);
  for (auto& d : dialers_) ScheduleDial(d.get(), 0);

  UpdateSelfLsa();
  const uint64_t tick_ms = TickMs();
  uv_timer_start(&tick_, OnTick, tick_ms, tick_ms);
  last_purge_ms_ = uv_now(loop_);

  common::Log(common::LogLevel::kInfo, "mesh", "started")
      .Kv("node", options_.node_name)
      .Kv("node_id", common::Hex(options_.node_id))
      .Kv("listen", options_.listen_address)
      .Kv("port", listen_port_)
      .Kv("peers", options_.peers.size());
  return absl::OkStatus();
}

void MeshNode::Impl::CloseHandle(uv_handle_t* h) {
  h->data = this;
  uv_close(h, [](uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    self->open_handles_--;
    self->MaybeFinishStop();
  });
}

void MeshNode::Impl::Stop() {
  if (state_ == State::kNew) {
    state_ = State::kStopped;
    return;
  }
  if (state_ != State::kRunning) return;
  state_ = State::kStopping;
  common::Log(common::LogLevel::kInfo, "mesh", "stopping").Kv("links", links_.size());
  if (listening_) {
    listening_ = false;
    CloseHandle(reinterpret_cast<uv_handle_t*>(&listen_poll_));
    close(listen_fd_);  // uv_close stopped the poll already
    listen_fd_ = -1;
  }
  for (auto& d : dialers_) {
    if (d->retired) continue;  // closing already (RetireDialer)
    uv_timer_stop(&d->timer);
    d->timer_armed = false;
    CloseHandle(reinterpret_cast<uv_handle_t*>(&d->timer));
    if (d->resolving != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(d->resolving));
  }
  CloseHandle(reinterpret_cast<uv_handle_t*>(&tick_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&probe_timer_));
  std::vector<LinkId> ids;
  for (const auto& [id, slot] : links_) ids.push_back(id);
  for (LinkId id : ids) {
    Link* l = FindLink(id);
    if (l != nullptr) l->Close(LinkCloseReason::kStopped, "node stopping", true);
  }
  ExpireProbes(/*all=*/true);
  frozen_ = false;
  Kick();
}

void MeshNode::Impl::MaybeFinishStop() {
  if (state_ != State::kStopping) return;
  if (!links_.empty() || open_handles_ > 0 || resolving_ > 0 || !events_.empty() ||
      !dirty_links_.empty() || flood_self_ || reachability_dirty_) {
    return;
  }
  if (idle_closing_) return;
  // Nothing can be queued any more (no links, no timers): release the last
  // handle; stopped() turns true when libuv is done with it.
  idle_closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), [](uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    self->state_ = State::kStopped;
    common::Log(common::LogLevel::kInfo, "mesh", "stopped").Kv("node", self->options_.node_name);
  });
}

// ---------------------------------------------------------------------------
// Deferred work.

void MeshNode::Impl::Kick() {
  if (kicked_ || idle_closing_ || state_ == State::kNew || state_ == State::kStopped) return;
  kicked_ = true;
  uv_idle_start(&idle_, OnIdle);
}

void MeshNode::Impl::OnIdle(uv_idle_t* h) { static_cast<Impl*>(h->data)->Work(); }

void MeshNode::Impl::Defer(std::function<void()> fn) {
  events_.push_back(std::move(fn));
  Kick();
}

void MeshNode::Impl::DeliverEvents() {
  // Handler calls may queue more; each batch is taken whole.
  while (!events_.empty()) {
    std::deque<std::function<void()>> batch;
    batch.swap(events_);
    for (auto& fn : batch) fn();
  }
}

void MeshNode::Impl::Work() {
  for (int round = 0; round < kMaxWorkRounds; round++) {
    if (flood_self_) FloodSelf();
    if (reachability_dirty_) UpdateReachability();
    if (events_.empty()) break;
    std::deque<std::function<void()>> batch;
    batch.swap(events_);
    for (auto& fn : batch) fn();
  }
  for (int round = 0; round < 4 && !dirty_links_.empty(); round++) {
    std::vector<LinkId> dirty;
    dirty.swap(dirty_links_);
    for (LinkId id : dirty) {
      if (Link* l = FindLink(id)) l->Service();
    }
  }
  if (events_.empty() && dirty_links_.empty() && !flood_self_ && !reachability_dirty_ &&
      !idle_closing_) {
    kicked_ = false;
    uv_idle_stop(&idle_);
  }
  MaybeFinishStop();
}

// ---------------------------------------------------------------------------
// Timers.

void MeshNode::Impl::OnTick(uv_timer_t* t) { static_cast<Impl*>(t->data)->Tick(); }

void MeshNode::Impl::Tick() {
  if (state_ != State::kRunning || frozen_) return;
  const uint64_t now = uv_now(loop_);
  std::vector<Link*> all;
  all.reserve(links_.size());
  for (const auto& [id, slot] : links_) all.push_back(slot.link.get());
  // Ticking may close links, but links are only destroyed from their close
  // callbacks, after this returns.
  for (Link* l : all) l->Tick(now);
  if (now - last_origination_ms_ >= options_.lsa_refresh_interval_ms) UpdateSelfLsa();
  if (now - last_purge_ms_ >= std::min<uint64_t>(1000, options_.lsa_refresh_interval_ms)) PurgeOld();
}

// ---------------------------------------------------------------------------
// Listener.

void MeshNode::Impl::OnListenEvent(uv_poll_t* h, int status, int events) {
  auto* self = static_cast<Impl*>(h->data);
  if (status == 0 && (events & UV_READABLE) && self->state_ == State::kRunning) self->Accept();
}

size_t MeshNode::Impl::PendingHandshakes() const {
  size_t n = 0;
  for (const auto& [id, slot] : links_) {
    const LinkState s = slot.link->state();
    if (s == LinkState::kConnecting || s == LinkState::kHandshake) n++;
  }
  return n;
}

void MeshNode::Impl::Accept() {
  for (int i = 0; i < kMaxAcceptsPerWakeup; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const int fd = accept4(listen_fd_, reinterpret_cast<struct sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      common::Log(common::LogLevel::kWarn, "mesh", "accept failed").Kv("error", strerror(errno));
      return;
    }
    if (PendingHandshakes() >= options_.max_pending_handshakes) {
      counters_.connections_refused++;
      counters_.handshakes_failed[static_cast<size_t>(HandshakeFailure::kLimit)]++;
      uint64_t suppressed = 0;
      if (stranger_log_.Allow(uv_now(loop_), &suppressed)) {
        SLOG_WARN("mesh", "too many pending handshakes: connection refused")
            .Kv("remote", mesh::SockaddrToString(reinterpret_cast<struct sockaddr*>(&ss)))
            .Kv("max_pending_handshakes", options_.max_pending_handshakes)
            .Kv("suppressed", suppressed);
      }
      close(fd);
      continue;
    }
    SetNoDelay(fd);
    counters_.connections_accepted++;
    LinkId id = 0;
    Link* l = NewLink(fd, false, nullptr, &id);
    const int r = l->Start(nullptr, 0);
    if (r != 0) {
      common::Log(common::LogLevel::kWarn, "mesh", "cannot start link").Kv("error", uv_strerror(r));
      links_.erase(id);  // closes fd
    }
  }
}

Link* MeshNode::Impl::NewLink(int fd, bool dialed, Dialer* dialer, LinkId* id) {
  *id = next_link_id_++;
  LinkSlot slot;
  slot.link = std::make_unique<Link>(&link_config_, this, *id, fd, dialed);
  slot.dialer = dialer;
  Link* l = slot.link.get();
  links_.emplace(*id, std::move(slot));
  return l;
}

Link* MeshNode::Impl::FindLink(LinkId id) const {
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : it->second.link.get();
}

// ---------------------------------------------------------------------------
// Dialing.

uint64_t MeshNode::Impl::Jitter(uint64_t ms) {
  // Uniform in [ms/2, ms].
  if (ms < 2) return ms;
  std::uniform_int_distribution<uint64_t> dist(ms / 2, ms);
  return dist(rng_);
}

void MeshNode::Impl::ScheduleDial(Dialer* d, uint64_t delay_ms) {
  if (state_ != State::kRunning || d->retired) return;
  d->timer_armed = true;
  uv_timer_start(&d->timer, OnDialTimer, delay_ms, 0);
}

void MeshNode::Impl::OnDialTimer(uv_timer_t* t) {
  auto* d = static_cast<Dialer*>(t->data);
  d->timer_armed = false;
  d->node->Dial(d);
}

void MeshNode::Impl::Dial(Dialer* d) {
  if (state_ != State::kRunning || d->retired || d->link != 0 || d->resolving != nullptr) return;
  if (frozen_) {
    ScheduleDial(d, d->backoff_ms);
    return;
  }
  // The peer dialed us and we kept that link: nothing to do until it goes.
  if (d->last_peer != 0 && by_peer_.contains(d->last_peer)) return;
  d->attempts++;
  counters_.dials++;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (mesh::NumericSockaddr(d->hp, &ss, &len)) {
    Connect(d, reinterpret_cast<struct sockaddr*>(&ss), len);
    return;
  }
  auto* req = new uv_getaddrinfo_t;
  req->data = d;
  struct addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  const std::string port = std::to_string(d->hp.port);
  const int r = uv_getaddrinfo(loop_, req, OnResolved, d->hp.host.c_str(), port.c_str(), &hints);
  if (r != 0) {
    delete req;
    DialFailed(d, std::string("resolve: ") + uv_strerror(r));
    return;
  }
  d->resolving = req;
  resolving_++;
}

void MeshNode::Impl::OnResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  auto* d = static_cast<Dialer*>(req->data);
  Impl* self = d->node;
  delete req;
  d->resolving = nullptr;
  self->resolving_--;
  if (self->state_ != State::kRunning || d->retired) {
    if (res != nullptr) uv_freeaddrinfo(res);
    if (d->retired) {
      self->FreeRetired(d);  // (calls MaybeFinishStop)
    } else {
      self->MaybeFinishStop();
    }
    return;
  }
  if (status != 0 || res == nullptr) {
    if (res != nullptr) uv_freeaddrinfo(res);
    self->DialFailed(d, std::string("resolve: ") + uv_strerror(status));
    return;
  }
  // Each attempt takes the next address the name resolves to.
  size_t n = 0;
  for (struct addrinfo* a = res; a != nullptr; a = a->ai_next) n++;
  struct addrinfo* pick = res;
  for (size_t i = (d->attempts - 1) % n; i > 0; i--) pick = pick->ai_next;
  self->Connect(d, pick->ai_addr, pick->ai_addrlen);
  uv_freeaddrinfo(res);
}

void MeshNode::Impl::Connect(Dialer* d, const struct sockaddr* addr, socklen_t len) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    DialFailed(d, std::string("socket: ") + strerror(errno));
    return;
  }
  SetNoDelay(fd);
  LinkId id = 0;
  Link* l = NewLink(fd, true, d, &id);
  d->link = id;
  const int r = l->Start(addr, len);
  if (r != 0) {
    links_.erase(id);  // closes fd
    d->link = 0;
    DialFailed(d, std::string("cannot start link: ") + uv_strerror(r));
  }
  // Start() may already have closed the link (connect failed at once): then
  // LinkClosing() scheduled the retry.
}

void MeshNode::Impl::DialFailed(Dialer* d, std::string error) {
  counters_.dial_failures++;
  d->failures++;
  d->last_error = std::move(error);
  const bool first = d->failures == 1;
  common::Log(first ? common::LogLevel::kInfo : common::LogLevel::kDebug, "mesh", "dial failed")
      .Kv("address", d->peer.address)
      .Kv("error", d->last_error)
      .Kv("failures", d->failures);
  ScheduleDial(d, Jitter(d->backoff_ms));
  d->backoff_ms = std::min<uint64_t>(2 * d->backoff_ms, options_.backoff_max_ms);
}

// ---------------------------------------------------------------------------
// Link::Owner.

bool MeshNode::Impl::Wins(const Link* a, const Link* b) const {
  // Keep the connection dialed by the lower node id; between two dialed by
  // the same node, the one with the lower dialer nonce. Both ends see the
  // same ids and nonces, so both keep the same connection.
  const NodeId lo = std::min(options_.node_id, a->peer_id());
  const bool a_lo = a->dialer_id() == lo;
  const bool b_lo = b->dialer_id() == lo;
  if (a_lo != b_lo) return a_lo;
  const mesh::Nonce* na = a->dialer_nonce();
  const mesh::Nonce* nb = b->dialer_nonce();
  assert(na != nullptr && nb != nullptr);
  return memcmp(na->data(), nb->data(), mesh::kNonceBytes) < 0;
}

HandshakeFailure MeshNode::Impl::AdmitPeer(Link* link) {
  const NodeId id = link->peer_id();
  const std::string& name = link->peer_name();
  auto slot_it = links_.find(link->id());
  assert(slot_it != links_.end());
  Dialer* d = slot_it->second.dialer;
  if (state_ != State::kRunning) return HandshakeFailure::kLimit;
  if (d != nullptr) d->last_peer = id;
  if (d != nullptr && !d->peer.name.empty() && d->peer.name != name) {
    SLOG_WARN("mesh", "peer answered under an unexpected name")
        .Kv("address", d->peer.address)
        .Kv("expected", d->peer.name)
        .Kv("peer", name);
    return HandshakeFailure::kUnexpectedName;
  }
  if (name == options_.node_name) return HandshakeFailure::kNameClash;
  // Other connections: the same node (a duplicate), or a clash.
  for (const auto& [other_id, slot] : links_) {
    const Link* o = slot.link.get();
    if (o == link || o->closing() || !o->admitted()) continue;
    if ((o->peer_id() == id) != (o->peer_name() == name)) {
      SLOG_WARN("mesh", "peer identity clashes with a connected node")
          .Kv("peer", name)
          .Kv("peer_id", common::Hex(id))
          .Kv("connected", o->peer_name())
          .Kv("connected_id", common::Hex(o->peer_id()));
      return HandshakeFailure::kNameClash;
    }
  }
  if (lsdb_->Clashes(id, name)) {
    SLOG_WARN("mesh", "peer identity clashes with a node in the mesh")
        .Kv("peer", name)
        .Kv("peer_id", common::Hex(id));
    return HandshakeFailure::kNameClash;
  }
  for (const auto& [other_id, slot] : links_) {
    const Link* o = slot.link.get();
    if (o == link || o->closing() || !o->admitted() || o->peer_id() != id) continue;
    if (!Wins(link, o)) return HandshakeFailure::kDuplicate;
  }
  if (!by_peer_.contains(id) && by_peer_.size() + 1 >= options_.max_nodes) {
    SLOG_WARN("mesh", "link limit reached: peer refused")
        .Kv("peer", name)
        .Kv("max_nodes", options_.max_nodes);
    return HandshakeFailure::kLimit;
  }
  return HandshakeFailure::kNone;
}

void MeshNode::Impl::LinkEstablished(Link* link) {
  const LinkId id = link->id();
  const NodeId peer = link->peer_id();
  // A duplicate admitted meanwhile: exactly one of the two stays.
  std::vector<Link*> losers;
  for (const auto& [other_id, slot] : links_) {
    Link* o = slot.link.get();
    if (o == link || o->closing() || !o->admitted() || o->peer_id() != peer) continue;
    if (!Wins(link, o)) {
      link->Close(LinkCloseReason::kReplaced, "lost the tie-break to another link to the node", true);
      return;
    }
    losers.push_back(o);
  }
  for (Link* o : losers) {
    o->Close(LinkCloseReason::kReplaced, "replaced by another link to the same node", true);
  }
  counters_.links_up++;
  by_peer_[peer] = id;
  auto slot_it = links_.find(id);
  if (slot_it != links_.end() && slot_it->second.dialer != nullptr) {
    Dialer* d = slot_it->second.dialer;
    d->failures = 0;
    d->last_error.clear();
  }
  common::Log(common::LogLevel::kInfo, "mesh", "link up")
      .Kv("link", id)
      .Kv("peer", link->peer_name())
      .Kv("peer_id", common::Hex(peer))
      .Kv("remote", link->Info().remote_address)
      .Kv("dialed", link->dialed())
      .Kv("peer_key", link->Info().peer_key_accepted ? "accepted" : "own");
  // A stale advert for this id under another name yields to the live node.
  if (const mesh::Lsa* held = lsdb_->Find(peer); held != nullptr && held->name != link->peer_name()) {
    lsdb_->Remove(peer);
  }
  SendDatabase(link);
  UpdateSelfLsa();
  if (link->closing()) return;
  // Told at once, not deferred: DATA frames right behind the peer's Ready
  // are handed to OnData from this same read, and must come after
  // OnLinkUp. (This runs from a link's read callback, never from inside a
  // MeshNode method.) What was queued first, such as OnLinkDown for a link
  // this one replaced, goes first.
  DeliverEvents();
  handler_->OnLinkUp(id, peer);
}

mesh::PayloadSplit MeshNode::Impl::SplitData(Link* link, std::string_view first, uint32_t len) {
  return handler_->SplitData(link->id(), first, len);
}

void MeshNode::Impl::LinkFrame(Link* link, mesh::Frame& frame) {
  switch (frame.type) {
    case mesh::FrameType::kData:
      counters_.data_frames_in++;
      counters_.data_bytes_in += frame.payload.size() + frame.split.len;
      if (frame.split.len > 0) {
        handler_->OnSplitData(link->id(), link->peer_id(), std::move(frame.payload),
                              std::move(frame.split));
      } else {
        handler_->OnData(link->id(), link->peer_id(), std::move(frame.payload));
      }
      return;
    case mesh::FrameType::kLsa: {
      auto it = links_.find(link->id());
      assert(it != links_.end());
      HandleLsa(link, &it->second, frame.payload);
      return;
    }
    case mesh::FrameType::kProbe:
      HandleProbe(link, frame.payload);
      return;
    default:
      assert(false && "Link passes only LSA, PROBE and DATA frames");
      return;
  }
}

void MeshNode::Impl::LinkClosing(Link* link) {
  const LinkId id = link->id();
  const NodeId peer = link->peer_id();
  auto it = by_peer_.find(peer);
  const bool was_up = peer != 0 && it != by_peer_.end() && it->second == id;
  if (was_up) {
    by_peer_.erase(it);
    counters_.links_down++;
    Defer([this, id, peer] { handler_->OnLinkDown(id, peer); });
    UpdateSelfLsa();
    // Dialers that stood by while the peer's own link was up: redial soon.
    for (auto& d : dialers_) {
      if (d->last_peer == peer && d->link == 0 && !d->timer_armed && d->resolving == nullptr) {
        ScheduleDial(d.get(), Jitter(options_.backoff_min_ms));
      }
    }
  }
  auto slot_it = links_.find(id);
  assert(slot_it != links_.end());
  Dialer* d = slot_it->second.dialer;
  if (d != nullptr && d->link == id) {
    d->link = 0;
    const uint64_t up_ms = was_up ? uv_now(loop_) - link->up_since_ms() : 0;
    if (was_up && up_ms >= options_.dead_interval_ms) {
      d->backoff_ms = options_.backoff_min_ms;  // it worked for a while: start over
    } else if (!was_up) {
      d->failures++;
    }
    d->last_error = link->close_detail();
    ScheduleDial(d, Jitter(d->backoff_ms));
    d->backoff_ms = std::min<uint64_t>(2 * d->backoff_ms, options_.backoff_max_ms);
  }
}

void MeshNode::Impl::LinkReleased(Link* link) {
  links_.erase(link->id());  // destroys the link
  MaybeFinishStop();
}

void MeshNode::Impl::LinkNeedsService(Link* link) {
  dirty_links_.push_back(link->id());
  Kick();
}

void MeshNode::Impl::LinkDrained(Link* link) {
  const LinkId id = link->id();
  Defer([this, id] {
    Link* l = FindLink(id);
    if (l != nullptr && l->established() && !l->congested()) handler_->OnLinkWritable(id);
  });
}

// ---------------------------------------------------------------------------
// Data and introspection.

NodeId MeshNode::Impl::PeerOf(LinkId id) const {
  const Link* l = FindLink(id);
  return l != nullptr && l->established() ? l->peer_id() : 0;
}

bool MeshNode::Impl::SendData(LinkId id, mesh::DataPayload payload) {
  Link* l = FindLink(id);
  const size_t n = payload.size();
  if (l == nullptr || !l->SendData(std::move(payload))) {
    counters_.data_send_refused++;
    return false;
  }
  counters_.data_frames_out++;
  counters_.data_bytes_out += n;
  return true;
}

bool MeshNode::Impl::Congested(LinkId id) const {
  const Link* l = FindLink(id);
  return l != nullptr && l->congested();
}

void MeshNode::Impl::SetReadPaused(LinkId id, bool paused) {
  if (Link* l = FindLink(id); l != nullptr && !l->closing()) l->SetReadPaused(paused);
}

void MeshNode::Impl::SetFrozen(bool frozen) {
  if (state_ != State::kRunning || frozen_ == frozen) return;
  frozen_ = frozen;
  for (auto& [id, slot] : links_) slot.link->SetFrozen(frozen);
  if (listening_) {
    if (frozen) {
      uv_poll_stop(&listen_poll_);
    } else {
      uv_poll_start(&listen_poll_, UV_READABLE, OnListenEvent);
    }
  }
  if (!frozen) Kick();
}

std::vector<LinkInfo> MeshNode::Impl::Links() const {
  std::vector<LinkInfo> out;
  out.reserve(links_.size());
  for (const auto& [id, slot] : links_) out.push_back(slot.link->Info());
  std::sort(out.begin(), out.end(), [](const LinkInfo& a, const LinkInfo& b) { return a.id < b.id; });
  return out;
}

std::vector<DialerInfo> MeshNode::Impl::Dialers() const {
  std::vector<DialerInfo> out;
  for (const auto& d : dialers_) {
    if (d->retired) continue;
    DialerInfo i;
    i.address = d->peer.address;
    i.expected_name = d->peer.name;
    i.link = d->link;
    i.last_peer_id = d->last_peer;
    i.attempts = d->attempts;
    i.consecutive_failures = d->failures;
    i.last_error = d->last_error;
    i.backoff = absl::Milliseconds(d->backoff_ms);
    if (const Link* l = FindLink(d->link); l != nullptr) {
      i.state = l->established() ? "up" : LinkStateName(l->state());
    } else if (d->resolving != nullptr) {
      i.state = "resolving";
    } else if (d->timer_armed) {
      i.state = "waiting";
    } else {
      i.state = "idle";
    }
    out.push_back(std::move(i));
  }
  return out;
}

// ---------------------------------------------------------------------------
// MeshNode: the public face.

MeshNode::MeshNode(uv_loop_t* loop, Options options, Handler* handler)
    : impl_(std::make_unique<Impl>(loop, std::move(options), handler)) {}
MeshNode::~MeshNode() = default;
absl::Status MeshNode::Start() { return impl_->Start(); }
absl::Status MeshNode::SetClusterKeys(std::string key, std::vector<std::string> accepted) {
  return impl_->SetClusterKeys(std::move(key), std::move(accepted));
}
std::vector<std::string> MeshNode::ClusterKeyIds() const { return impl_->ClusterKeyIds(); }
absl::Status MeshNode::SetPeers(std::vector<Peer> peers) { return impl_->SetPeers(std::move(peers)); }
absl::Status MeshNode::SetTimers(const Timers& t) { return impl_->SetTimers(t); }
void MeshNode::Stop() { impl_->Stop(); }
bool MeshNode::stopped() const { return impl_->stopped(); }
int MeshNode::listen_port() const { return impl_->listen_port(); }
const std::string& MeshNode::node_name() const { return impl_->options().node_name; }
NodeId MeshNode::node_id() const { return impl_->options().node_id; }
std::optional<NodeId> MeshNode::Resolve(std::string_view name) const { return impl_->Resolve(name); }
LinkId MeshNode::NextHop(NodeId dst) const { return impl_->NextHop(dst); }
bool MeshNode::Reachable(NodeId dst) const { return impl_->Reachable(dst); }
NodeId MeshNode::PeerOf(LinkId link) const { return impl_->PeerOf(link); }
bool MeshNode::SendData(LinkId link, mesh::DataPayload payload) {
  return impl_->SendData(link, std::move(payload));
}
bool MeshNode::Congested(LinkId link) const { return impl_->Congested(link); }
void MeshNode::PauseRead(LinkId link) { impl_->SetReadPaused(link, true); }
void MeshNode::ResumeRead(LinkId link) { impl_->SetReadPaused(link, false); }
void MeshNode::Ping(NodeId dst, std::function<void(absl::StatusOr<absl::Duration>)> done,
                    absl::Duration timeout) {
  impl_->Ping(dst, std::move(done), timeout);
}
void MeshNode::Trace(NodeId dst, std::function<void(absl::StatusOr<std::vector<TraceHop>>)> done,
                     absl::Duration timeout) {
  impl_->Trace(dst, std::move(done), timeout);
}
std::vector<LinkInfo> MeshNode::Links() const { return impl_->Links(); }
std::vector<NodeInfo> MeshNode::Nodes() const { return impl_->Nodes(); }
std::vector<NodeInfo> MeshNode::Routes() const { return impl_->Routes(); }
std::vector<DialerInfo> MeshNode::Dialers() const { return impl_->Dialers(); }
size_t MeshNode::DialersHeld() const { return impl_->DialersHeld(); }
const MeshCounters& MeshNode::counters() const { return impl_->counters(); }
void MeshNode::SetFrozenForTest(bool frozen) { impl_->SetFrozen(frozen); }

}  // namespace meshd
