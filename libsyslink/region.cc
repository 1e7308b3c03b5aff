#include "libsyslink/region.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include <algorithm>

#include "libsyslink/meshd_client.h"
#include "libsyslink/region_wire.h"

namespace libsyslink {

namespace {

// How long a registration waits for meshd.
constexpr int kCallTimeoutMs = 10000;

bool PageAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % PageSize() == 0; }

// True if meshd closed control connection FD (it never speaks unasked on
// it, so anything to read is the end). One poll(), no waiting.
bool Hungup(int fd) {
  struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};
  return poll(&pfd, 1, 0) == 1;
}

}  // namespace

RegionClient::Session::~Session() {
  // The link first: it must not tell meshd to forget the bounce buffer
  // (after a fork() the socket is the parent's too).
  link.reset();
  if (bounce != nullptr) DmaBuffers::Get().Free(bounce);
}

namespace {
std::shared_ptr<RegionClient>* the_client = nullptr;
}  // namespace

RegionClient& RegionClient::Get() {
  // Never destroyed; held by a shared_ptr so that buffers can be watched.
  static RegionClient* client = [] {
    the_client = new std::shared_ptr<RegionClient>(new RegionClient);
    pthread_atfork([] { (*the_client)->LockForFork(); },
                   [] { (*the_client)->UnlockForFork(); },
                   [] {
                     (*the_client)->UnlockForFork();
                     (*the_client)->AfterFork();
                   });
    return the_client->get();
  }();
  return *client;
}

void RegionClient::LockForFork() {
  mu_.lock();
  pool_mu_.lock();
}

void RegionClient::UnlockForFork() {
  pool_mu_.unlock();
  mu_.unlock();
}

void RegionClient::AfterFork() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn_.reset();  // (our copy; the parent's connection lives on)
    cache_.clear();
    by_handle_.clear();
    watched_.clear();
    registered_bytes_ = 0;
  }
  absl::flat_hash_map<uint64_t, std::vector<std::unique_ptr<Session>>> idle;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle.swap(idle_);
  }
  // Destroyed here, outside the locks: closing our copies of the sockets.
}

// ---------------------------------------------------------------------------
// Registrations

int RegionClient::CallLocked(ctl::Message& req, int pass_fd, ctl::Message* reply) {
  for (int attempt = 0;; attempt++) {
    const bool fresh = !conn_.ok();
    if (fresh) {
      const int err = DialMeshd(&conn_);
      if (err != 0) return err;
    }
    req.msgid = next_msgid_++;
    common::UniqueFd unused;
    const int err = Call(conn_.get(), req, kCallTimeoutMs, reply, &unused, pass_fd);
    if (err == 0) return 0;
    if (err == ECONNREFUSED) {
      // meshd hung up (it restarted, or died): it forgot every region of
      // this connection. A request on a fresh connection is tried again
      // once.
      LostLocked();
      if (!fresh && attempt == 0 && req.op == ctl::Op::kRegionRegister) continue;
    }
    return err;
  }
}

void RegionClient::LostLocked() {
  conn_.reset();
  cache_.clear();
  by_handle_.clear();
  registered_bytes_ = 0;
}

int RegionClient::Register(void* addr, size_t bytes, int access,
                           struct syslink_region_key* key) {
  if (access == 0 || (access & ~(SL_REGION_READ | SL_REGION_WRITE)) != 0 || bytes == 0) {
    return -EINVAL;
  }
  const CacheKey ck{reinterpret_cast<uintptr_t>(addr), bytes, access};
  std::lock_guard<std::mutex> lock(mu_);
  // A meshd that went away took every registration with it (it restarts
  // with an empty table): the cache must not outlive the connection.
  if (conn_.ok() && Hungup(conn_.get())) LostLocked();
  auto hit = cache_.find(ck);
  if (hit != cache_.end()) {
    hit->second.refs++;
    hits_++;
    *key = hit->second.key;
    return 0;
  }
  misses_++;
  // The buffer's own pages are what peers see: no peer's view over them.
  DmaBuffers::Get().DropViews(addr, bytes);
  int fd;
  uint64_t offset, id;
  if (!DmaBuffers::Get().Find(addr, bytes, access & SL_REGION_WRITE, &fd, &offset, &id)) {
    return -EINVAL;
  }
  ctl::Message req;
  req.op = ctl::Op::kRegionRegister;
  req.has_offset = true;
  req.offset = offset;
  req.length = bytes;
  req.access = static_cast<uint32_t>(access);
  ctl::Message reply;
  int err = CallLocked(req, fd, &reply);
  if (err != 0) return -err;
  if (reply.error != 0) return -reply.error;
  if (reply.node_id == 0 || reply.slot == 0 || reply.generation == 0 || reply.secret == 0) {
    return -ECONNREFUSED;  // meshd answered nonsense
  }
  const struct syslink_region_key k = {reply.node_id, reply.slot, reply.generation,
                                       reply.secret};
  // Freeing the buffer must invalidate the entry. If it was freed meanwhile
  // (another thread), the registration is stale already: undo it.
  if (!watched_.contains(id)) {
    if (!DmaBuffers::Get().Watch(id, weak_from_this())) {
      DeregisterLocked({k});
      return -EINVAL;
    }
    watched_.insert(id);
  }
  cache_[ck] = Entry{k, 1, id};
  by_handle_[Handle(k)] = ck;
  registered_bytes_ += bytes;
  *key = k;
  return 0;
}

void RegionClient::DeregisterLocked(const std::vector<struct syslink_region_key>& keys) {
  for (const auto& k : keys) {
    if (!conn_.ok()) return;  // meshd forgot them already
    ctl::Message req;
    req.op = ctl::Op::kRegionDeregister;
    req.slot = k.slot;
    req.generation = k.generation;
    req.secret = k.secret;
    ctl::Message reply;
    (void)CallLocked(req, -1, &reply);  // (a lost connection dropped them all)
  }
}

int RegionClient::Deregister(const struct syslink_region_key& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto h = by_handle_.find(Handle(key));
  if (h == by_handle_.end()) return -ENOENT;
  auto it = cache_.find(h->second);
  if (it->second.key.secret != key.secret || it->second.key.node != key.node) return -ENOENT;
  if (--it->second.refs > 0) return 0;
  const struct syslink_region_key k = it->second.key;
  registered_bytes_ -= it->first.bytes;
  cache_.erase(it);
  by_handle_.erase(h);
  DeregisterLocked({k});
  return 0;
}

void RegionClient::BufferFreed(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  watched_.erase(id);
  std::vector<struct syslink_region_key> dead;
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (it->second.buffer == id) {
      dead.push_back(it->second.key);
      registered_bytes_ -= it->first.bytes;
      by_handle_.erase(Handle(it->second.key));
      cache_.erase(it++);
    } else {
      ++it;
    }
  }
  invalidations_ += dead.size();
  DeregisterLocked(dead);
}

// ---------------------------------------------------------------------------
// Operations

int RegionClient::TakeSession(uint64_t node, std::unique_ptr<Session>* out, bool* pooled) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    auto it = idle_.find(node);
    if (it != idle_.end() && !it->second.empty()) {
      *out = std::move(it->second.back());
      it->second.pop_back();
      *pooled = true;
      return 0;
    }
  }
  *pooled = false;
  auto s = std::make_unique<Session>();
  s->node = node;
  // A direct session's peer is the local meshd itself: its death is
  // ECONNABORTED, like a relayed session's.
  const int err = MeshdConnectLink("", node, region::kService, 0, ECONNABORTED, &s->link,
                                   &s->relayed);
  if (err != 0) return err;
  *out = std::move(s);
  return 0;
}

void RegionClient::DropIdle(uint64_t node) {
  std::vector<std::unique_ptr<Session>> dead;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    auto it = idle_.find(node);
    if (it == idle_.end()) return;
    dead.swap(it->second);
  }
}

void RegionClient::GiveBack(std::unique_ptr<Session> s) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  auto& v = idle_[s->node];
  if (v.size() < kIdlePerNode) v.push_back(std::move(s));
}

ssize_t RegionClient::Transfer(bool write, const struct syslink_region_key& key,
                               uint64_t offset, char* buf, size_t bytes) {
  if (offset + bytes < offset) return -ERANGE;
  // The caller's buffer travels as it is when it can be shared; else
  // through the session's bounce buffer (one more copy).
  int fd;
  uint64_t unused_offset, unused_id;
  const bool direct = bytes > 0 && PageAligned(buf) &&
                      DmaBuffers::Get().Find(buf, bytes, !write, &fd, &unused_offset, &unused_id);
  const size_t pieces = std::max<size_t>(1, (bytes + SL_DMA_MAX - 1) / SL_DMA_MAX);
  for (;;) {
    std::unique_ptr<Session> s;
    bool pooled;
    int err = TakeSession(key.node, &s, &pooled);
    if (err != 0) return -err;
    if (!direct && s->bounce == nullptr) {
      s->bounce = static_cast<char*>(DmaBuffers::Get().Alloc(size_t{kWindow} * SL_DMA_MAX));
      if (s->bounce == nullptr) return -ENOMEM;
    }
    struct InFlight {
      size_t piece;
      int slot;
    };
    absl::flat_hash_map<uint64_t, InFlight> inflight;
    int free_slots[kWindow];
    int nfree = kWindow;
    for (int i = 0; i < kWindow; i++) free_slots[i] = kWindow - 1 - i;
    size_t next = 0;
    int first_err = 0;
    bool broken = false;
    bool sent_any = false;
    while (true) {
      // Fill the window.
      while (first_err == 0 && !broken && next < pieces && nfree > 0) {
        const size_t at = next * SL_DMA_MAX;
        const size_t len = std::min<size_t>(SL_DMA_MAX, bytes - at);
        const int slot = free_slots[--nfree];
        char* dma = direct ? buf + at : s->bounce + size_t(slot) * SL_DMA_MAX;
        if (write && !direct && len > 0) memcpy(dma, buf + at, len);
        region::Request req;
        req.op = write ? region::Op::kWrite : region::Op::kRead;
        req.msgid = s->next_msgid++;
        req.key = key;
        req.offset = offset + at;
        alignas(8) unsigned char msg[SL_MAXSIZE];
        const size_t mlen = region::EncodeRequest(req, msg);
        const struct iovec iov[2] = {{msg, mlen}, {dma, len}};
        const ssize_t w = s->link->Write(iov, 2);
        if (w < 0) {
          free_slots[nfree++] = slot;
          if (w == -EPIPE) {
            broken = true;  // replies to what is in flight are synthesized
            if (!sent_any && pooled) break;  // a stale idle session
            first_err = s->relayed ? EHOSTUNREACH : ECONNABORTED;
          } else {
            first_err = static_cast<int>(-w);
          }
          break;
        }
        sent_any = true;
        inflight[req.msgid] = InFlight{next, slot};
        next++;
      }
      if (inflight.empty()) break;
      alignas(8) unsigned char rep[SL_MAXSIZE];
      const struct iovec riov = {rep, sizeof rep};
      const ssize_t r = s->link->Read(&riov, 1);
      if (r <= 0) {  // end-of-file with replies owed cannot be: the Link made them
        broken = true;
        if (first_err == 0) first_err = r == 0 ? ECONNABORTED : static_cast<int>(-r);
        break;
      }
      struct syslink_msg h;
      memcpy(&h, rep, sizeof h);
      auto it = inflight.find(h.sm_msgid);
      if (!(h.sm_proto & SM_PROTO_REPLY) || it == inflight.end()) continue;  // (cannot be)
      const InFlight f = it->second;
      inflight.erase(it);
      free_slots[nfree++] = f.slot;
      int e = h.sm_head.se_aux;
      if (e == ECONNRESET || e == ECONNABORTED || e == EHOSTUNREACH) {
        // Synthesized: the session is over. A direct session's peer is
        // the local meshd; a relayed one's server is the far meshd.
        broken = true;
        if (e == ECONNRESET) e = s->relayed ? EHOSTUNREACH : ECONNABORTED;
      }
      const size_t at = f.piece * SL_DMA_MAX;
      const size_t len = std::min<size_t>(SL_DMA_MAX, bytes - at);
      if (e == 0 && !write && ThreadDmaBytes() != len) e = EIO;  // (meshd always sends it all)
      if (e == 0 && !write && !direct && len > 0) {
        memcpy(buf + at, s->bounce + size_t(f.slot) * SL_DMA_MAX, len);
      }
      if (e != 0 && first_err == 0) first_err = e;
    }
    if (broken && !sent_any && first_err == 0) {
      // An idle session that died while it waited (meshd restarted, or
      // the far node went away): so did the others. Try a fresh one.
      DropIdle(key.node);
      continue;
    }
    if (!broken) GiveBack(std::move(s));
    if (first_err != 0) return -first_err;
    ops_.fetch_add(1, std::memory_order_relaxed);
    op_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return static_cast<ssize_t>(bytes);
  }
}

void RegionClient::GetStats(struct syslink_region_stats* st) {
  std::lock_guard<std::mutex> lock(mu_);
  st->registered = cache_.size();
  st->registered_bytes = registered_bytes_;
  st->cache_hits = hits_;
  st->cache_misses = misses_;
  st->invalidations = invalidations_;
  st->ops = ops_.load(std::memory_order_relaxed);
  st->op_bytes = op_bytes_.load(std::memory_order_relaxed);
}

}  // namespace libsyslink
