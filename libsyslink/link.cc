#include "libsyslink/link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace libsyslink {

size_t& ThreadDmaBytes() {
  static thread_local size_t bytes = 0;
  return bytes;
}

uint32_t& ThreadDmarRoom() {
  static thread_local uint32_t room = 0;
  return room;
}

namespace {
DeferredDma& ThreadDeferred() {
  static thread_local DeferredDma deferred;
  return deferred;
}
}  // namespace

DeferredDma TakeDeferredDma() {
  DeferredDma d = std::move(ThreadDeferred());
  ThreadDeferred() = DeferredDma();  // (a moved-from one keeps its sizes)
  return d;
}

namespace {

// Header fields of a message that may sit at any alignment in a caller's
// buffer: always go through memcpy.
struct syslink_msg LoadHeader(const unsigned char* p) {
  struct syslink_msg m;
  memcpy(&m, p, sizeof m);
  return m;
}
void StoreHeader(unsigned char* p, const struct syslink_msg& m) {
  memcpy(p, &m, sizeof m);
}

bool ValidCarrier(Carrier c) {
  switch (c) {
    case Carrier::kNone:
    case Carrier::kPipe:
    case Carrier::kMemfd:
    case Carrier::kDirect:
      return true;
  }
  return false;
}

// Reads the bytes at OFFSET of one-off memfd FD (kFlagCopy: a copy made
// for this message) into DST[0..N). Returns 0 or EINVAL.
int ReadOneOffv(int fd, uint64_t offset, const struct iovec* dst, int n) {
  for (int i = 0; i < n; i++) {
    size_t done = 0;
    while (done < dst[i].iov_len) {
      ssize_t r = pread(fd, static_cast<char*>(dst[i].iov_base) + done, dst[i].iov_len - done,
                        static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return EINVAL;
      done += static_cast<size_t>(r);
    }
    offset += dst[i].iov_len;
  }
  return 0;
}

int ReadOneOff(int fd, uint64_t offset, void* dst, size_t len) {
  const struct iovec v = {dst, len};
  return ReadOneOffv(fd, offset, &v, 1);
}

}  // namespace

namespace {
std::atomic<uint64_t> next_serial{1};
}  // namespace

int DeferredDma::CopyTo(const struct iovec* dst, int n) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += dst[i].iov_len;
  if (total != bytes_) return EINVAL;
  int err = 0;
  if (map_ != nullptr) {
    const char* src = map_->addr + offset_;
    for (int i = 0; i < n; i++) {
      memcpy(dst[i].iov_base, src, dst[i].iov_len);
      src += dst[i].iov_len;
    }
  } else if (one_off_) {
    err = ReadOneOffv(fd_.get(), offset_, dst, n);
  } else if (fd_.ok()) {
    if (DrainPipev(fd_.get(), dst, n) != bytes_) err = EINVAL;
  } else if (bytes_ > 0) {
    err = EINVAL;
  }
  *this = DeferredDma();
  return err;
}


Link::Link(int fd, Options options)
    : fd_(fd),
      options_(options),
      serial_(next_serial.fetch_add(1)),
      death_errno_(options.death_errno) {
  stats_.quota_bytes = SYSLINK_QUOTA_DEFAULT;
  stats_.dma_quota_bytes = SYSLINK_DMA_QUOTA_DEFAULT;
}

Link::~Link() {
  // Views of the peer's pages go; our buffers get their own pages back.
  DmaBuffers::Get().DropViewsOf(serial_);
  close(fd_);
  if (quota_efd_ >= 0) close(quota_efd_);
}

bool Link::AtEof() const {
  // recvmsg() returns 0 both at end-of-file and for a zero-length record,
  // which a peer bypassing the library could send to fake its own death.
  // End-of-file: the far end shut down and nothing is left to read.
  struct pollfd pfd = {fd_, POLLRDHUP, 0};
  if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP))) return false;
  int queued = 0;
  return ioctl(fd_, SIOCINQ, &queued) != 0 || queued == 0;
}

bool Link::NonBlocking() const {
  const int fl = fcntl(options_.nonblock_fd >= 0 ? options_.nonblock_fd : fd_, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

void Link::Shutdown() {
  shutdown_ = true;
  // Wakes threads blocked in recvmsg/sendmsg/poll on this socket. Note that
  // this ends the link for every process sharing the socket.
  ::shutdown(fd_, SHUT_RDWR);
}

int Link::SetQuota(size_t cmd_bytes, size_t dma_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cmd_bytes != 0) quota_ = std::min<size_t>(cmd_bytes, UINT32_MAX);
  if (dma_bytes != 0) dma_quota_ = std::min<size_t>(dma_bytes, UINT32_MAX);
  // Waiters may now fit.
  if (waiters_ > 0 && quota_efd_ >= 0) {
    uint64_t n = waiters_;
    (void)!write(quota_efd_, &n, sizeof n);
  }
  return 0;
}

int Link::GetStats(struct syslink_stats* st) {
  std::lock_guard<std::mutex> lock(mu_);
  *st = stats_;
  st->outstanding = static_cast<uint32_t>(pending_.size());
  st->outstanding_bytes = static_cast<uint32_t>(out_bytes_);
  st->outstanding_dma_bytes = static_cast<uint32_t>(out_dma_);
  st->unreplied = static_cast<uint32_t>(owed_.size());
  st->quota_bytes = static_cast<uint32_t>(quota_);
  st->dma_quota_bytes = static_cast<uint32_t>(dma_quota_);
  st->sessid = options_.sessid;
  return 0;
}

// ---------------------------------------------------------------------------
// Far end death

void Link::FarEndGone(int why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (eof_) return;
  eof_ = true;
  gone_.store(true, std::memory_order_release);
  synth_.reserve(pending_.size());
  for (const auto& [msgid, p] : pending_) {
    synth_.push_back(Synth{p.seq, msgid, p.proto, p.cmd, p.rlabel, why});
  }
  // Delivered from the back: oldest command first.
  std::sort(synth_.begin(), synth_.end(),
            [](const Synth& a, const Synth& b) { return a.seq > b.seq; });
  stats_.replies_synthesized += pending_.size();
  pending_.clear();
  out_bytes_ = 0;
  out_dma_ = 0;
  owed_.clear();  // commands of the dead side: nobody to answer
  owed_bytes_ = 0;
  if (waiters_ > 0 && quota_efd_ >= 0) {
    uint64_t n = waiters_;
    (void)!write(quota_efd_, &n, sizeof n);
  }
}

int Link::SetDmaMap(bool on) {
  map_mode_ = on;
  if (!on) DmaBuffers::Get().DropViewsOf(serial_);
  return 0;
}

void Link::BufferFreed(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (announced_.erase(id) == 0) return;
  }
  // Tell the peer to drop its mapping. Never blocks: if the socket is full
  // the peer keeps the mapping until the link ends (bounded per link).
  alignas(8) unsigned char packet[sizeof(LocalFrame)] = {};
  LocalFrame f = {};
  f.magic = LocalFrame::kMagic;
  f.flags = LocalFrame::kFlagForget;
  f.dma_buffer = id;
  memcpy(packet, &f, sizeof f);
  (void)!send(fd_, packet, sizeof packet, MSG_DONTWAIT | MSG_NOSIGNAL);
}

ssize_t Link::Refuse(const struct syslink_msg& cmd, int error) {
  alignas(8) unsigned char packet[sizeof(LocalFrame) + SL_MIN_MSG_SIZE];
  struct syslink_msg r = {};
  r.sm_proto = static_cast<sl_proto_t>(cmd.sm_proto | SM_PROTO_REPLY);
  r.sm_bytes = SL_MIN_MSG_SIZE;
  r.sm_rlabel = cmd.sm_rlabel;
  r.sm_msgid = cmd.sm_msgid;
  r.sm_sessid = cmd.sm_sessid;
  r.sm_head.se_cmd = static_cast<sl_cmd_t>((cmd.sm_head.se_cmd | SE_CMDF_REPLY) &
                                           ~(SE_CMDF_DMAR | SE_CMDF_STRUCTURED));
  r.sm_head.se_bytes = SL_MIN_ELM_SIZE;
  r.sm_head.se_aux = error;
  memcpy(packet + sizeof(LocalFrame), &r, sizeof r);
  LocalFrame f = {};
  f.magic = LocalFrame::kMagic;
  SendPacket(f, packet + sizeof(LocalFrame), sizeof r, -1);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.rejected++;
  return 0;
}

int Link::death_errno() {
  std::lock_guard<std::mutex> lock(mu_);
  return death_errno_;
}

ssize_t Link::SendGoodbye(int why) {
  LocalFrame f = {};
  f.magic = LocalFrame::kMagic;
  f.flags = LocalFrame::kFlagGoodbye;
  f.dma_room = static_cast<uint32_t>(why);
  alignas(8) unsigned char packet[sizeof(LocalFrame)];
  const ssize_t r = SendPacket(f, packet + sizeof packet, 0, -1);
  return r < 0 ? r : 0;
}

bool Link::Drained() {
  std::lock_guard<std::mutex> lock(mu_);
  return eof_ && synth_.empty();
}

bool Link::TakeSynthesized(const struct iovec& iov0, ssize_t* result) {
  if (!gone_.load(std::memory_order_acquire)) return false;  // the common case
  std::lock_guard<std::mutex> lock(mu_);
  if (!synth_.empty()) {
    if (iov0.iov_len < SL_MIN_MSG_SIZE) {
      *result = -ENOSPC;
      return true;
    }
    const Synth& s = synth_.back();
    struct syslink_msg m = {};
    m.sm_proto = static_cast<sl_proto_t>(s.proto | SM_PROTO_REPLY);
    m.sm_bytes = SL_MIN_MSG_SIZE;
    m.sm_rlabel = s.rlabel;
    m.sm_msgid = s.msgid;
    m.sm_sessid = options_.sessid;
    m.sm_head.se_cmd =
        static_cast<sl_cmd_t>((s.cmd | SE_CMDF_REPLY) & ~SE_CMDF_DMAR);
    m.sm_head.se_bytes = SL_MIN_ELM_SIZE;
    m.sm_head.se_aux = s.error;
    StoreHeader(static_cast<unsigned char*>(iov0.iov_base), m);
    synth_.pop_back();
    ThreadDmaBytes() = 0;
    ThreadDmarRoom() = 0;
    *result = SL_MIN_MSG_SIZE;
    return true;
  }
  if (eof_) {
    *result = 0;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Reading

ssize_t Link::ReadWithFlags(const struct iovec* iov, int iovcnt, int recv_flags) {
  if (iov == nullptr || iovcnt < 1 || iovcnt > 2) return -EINVAL;
  if (iov[0].iov_base == nullptr && iov[0].iov_len > 0) return -EFAULT;
  std::lock_guard<std::mutex> rlock(read_mu_);
  if (options_.defer_dma) ThreadDeferred() = DeferredDma();
  for (;;) {
    if (shutdown_) return -EBADF;
    ssize_t r;
    if (TakeSynthesized(iov[0], &r)) return r;
    if (held_ != nullptr) {
      std::unique_ptr<Packet> pkt = std::move(held_);
      r = Accept(pkt, iov, iovcnt);
      if (pkt != nullptr) {
        pkt->fd.reset();
        spare_ = std::move(pkt);
      }
      return r;
    }
    // One packet buffer per link, reused (reads are serialized); a packet
    // held after ENOSPC takes it, and the next read makes another. (Not
    // make_unique<Packet>(): that would zero 4 KiB on every read.)
    std::unique_ptr<Packet> pkt = std::move(spare_);
    if (pkt == nullptr) pkt.reset(new Packet);
    pkt->truncated = false;
    pkt->fd.reset();
    const int got = Receive(iov, iovcnt, recv_flags, pkt.get());
    if (got == 0) {
      if (shutdown_) return -EBADF;
      FarEndGone(death_errno());
      continue;
    }
    if (got < 0) {
      spare_ = std::move(pkt);
      return got;
    }
    r = Accept(pkt, iov, iovcnt);
    if (pkt != nullptr) {  // not held: keep the buffer for the next read
      pkt->fd.reset();
      spare_ = std::move(pkt);
    }
    if (r != 0) return r;
    // Dropped: read on.
  }
}

int Link::Receive(const struct iovec* iov, int iovcnt, int recv_flags,
                  Packet* pkt) {
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  // The frame and the message land contiguously in pkt->raw (one iovec is
  // cheaper than three); the message is copied out on delivery. A full-size
  // iov[0] takes one call per message; a smaller one peeks first, so that a
  // message that does not fit stays queued.
  const bool peek_first = iov[0].iov_len < SL_MAXSIZE;
  struct iovec v = {pkt->raw, sizeof pkt->raw};
  struct msghdr mh = {};
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;

  auto take_fd = [&](common::UniqueFd* out) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          if (out == nullptr) {
            close(fd);  // a peek's copy
          } else if (i == 0) {
            out->reset(fd);
          } else {
            close(fd);
            pkt->truncated = true;  // more than one descriptor: malformed
          }
        }
      }
    }
  };

  if (peek_first) {
    ssize_t n;
    do {
      n = recvmsg(fd_, &mh, recv_flags | MSG_PEEK | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == ECONNRESET);  // see below
    if (n < 0) return -errno;
    if (n == 0 && AtEof()) return 0;
    take_fd(nullptr);  // a peek installs copies of the descriptors
    const size_t body = static_cast<size_t>(n) > sizeof(LocalFrame)
                            ? static_cast<size_t>(n) - sizeof(LocalFrame) : 0;
    LocalFrame f;
    memcpy(&f, pkt->raw, sizeof f);
    if (body > 0 && body <= SL_MAXSIZE && f.magic == LocalFrame::kMagic) {
      // Only a message that would be delivered counts as not fitting.
      alignas(8) unsigned char copy[SL_MAXSIZE];
      memcpy(copy, pkt->raw + sizeof(LocalFrame), body);
      if (sl_msg_validate(copy, body) == 0) {
        const struct syslink_msg h = LoadHeader(copy);
        const bool dmaw = !(h.sm_proto & SM_PROTO_REPLY) &&
                          h.sm_proto != SMPROTO_PAD &&
                          (h.sm_head.se_cmd & SE_CMDF_DMAW);
        const size_t need = dmaw ? f.dma_bytes : 0;
        if (h.sm_proto != SMPROTO_PAD &&
            (body > iov[0].iov_len ||
             (need > 0 && (iovcnt < 2 || need > iov[1].iov_len)))) {
          return -ENOSPC;
        }
      }
    }
    recv_flags |= MSG_DONTWAIT;  // it is there (unless another process took it)
    mh.msg_controllen = sizeof cbuf;
  }
  // When the far end closed with messages of ours unread, the kernel reports
  // ECONNRESET once; what it sent before dying is still queued behind it.
  ssize_t n;
  do {
    n = recvmsg(fd_, &mh, recv_flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == ECONNRESET);
  if (n < 0) return -errno;
  if (n == 0 && AtEof()) return 0;
  take_fd(&pkt->fd);  // (n == 0: a zero-length record, rejected below)
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) pkt->truncated = true;
  pkt->msg = pkt->raw + sizeof(LocalFrame);
  if (static_cast<size_t>(n) < sizeof(LocalFrame)) {
    pkt->truncated = true;
    pkt->msg_len = 0;
    return 1;
  }
  memcpy(&pkt->frame, pkt->raw, sizeof pkt->frame);
  pkt->msg_len = static_cast<size_t>(n) - sizeof(LocalFrame);
  if (pkt->msg_len > SL_MAXSIZE) pkt->truncated = true;
  return 1;
}

ssize_t Link::Accept(std::unique_ptr<Packet>& pkt, const struct iovec* iov,
                     int iovcnt) {
  const LocalFrame& f = pkt->frame;
  const bool has_fd = pkt->fd.ok();
  auto reject = [&]() -> ssize_t {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.rejected++;
    return 0;
  };
  if (pkt->truncated || f.magic != LocalFrame::kMagic || f.reserved != 0 ||
      (f.flags & ~LocalFrame::kKnownFlags) || !ValidCarrier(f.carrier) ||
      f.dma_bytes > SL_DMA_MAX || f.dma_room > SL_DMA_MAX) {
    return reject();
  }
  if (f.flags & LocalFrame::kFlagForget) {
    if (pkt->msg_len != 0 || has_fd || f.carrier != Carrier::kNone || f.dma_buffer == 0) {
      return reject();
    }
    peer_bufs_.erase(f.dma_buffer);  // (read_mu_ is held by every Accept)
    DmaBuffers::Get().DropViewsOf(serial_, f.dma_buffer);
    return 0;
  }
  if (f.flags & LocalFrame::kFlagGoodbye) {
    if (pkt->msg_len != 0 || has_fd || f.carrier != Carrier::kNone || f.dma_room == 0 ||
        f.dma_room >= 4096 || f.dma_bytes != 0) {
      return reject();
    }
    std::lock_guard<std::mutex> lock(mu_);
    death_errno_ = static_cast<int>(f.dma_room);
    return 0;  // not a message: read on (end-of-file follows)
  }
  // A pipe always rides along; a memfd does unless it names a buffer the
  // peer announced before; nothing else carries a descriptor.
  bool fd_ok;
  switch (f.carrier) {
    case Carrier::kPipe: fd_ok = has_fd; break;
    case Carrier::kMemfd:
      fd_ok = has_fd || (f.dma_buffer != 0 && !(f.flags & LocalFrame::kFlagCopy));
      break;
    default: fd_ok = !has_fd; break;
  }
  if (!fd_ok || (f.dma_buffer != 0 && f.carrier != Carrier::kMemfd)) return reject();
  if (sl_msg_validate(pkt->msg, pkt->msg_len) != 0) return reject();
  const struct syslink_msg hdr = LoadHeader(pkt->msg);
  if (hdr.sm_proto == SMPROTO_PAD) return 0;  // never delivered, not counted

  // Does it fit the caller's buffers? If not, hold it for the next read.
  const bool is_reply = hdr.sm_proto & SM_PROTO_REPLY;
  const bool dmaw = !is_reply && (hdr.sm_head.se_cmd & SE_CMDF_DMAW);
  const size_t dma_need = dmaw && !options_.defer_dma ? f.dma_bytes : 0;
  if (pkt->msg_len > iov[0].iov_len ||
      (dma_need > 0 && (iovcnt < 2 || dma_need > iov[1].iov_len))) {
    held_ = std::move(pkt);
    return -ENOSPC;
  }
  return is_reply ? AcceptReply(pkt.get(), iov) : AcceptCommand(pkt.get(), iov, iovcnt);
}

ssize_t Link::AcceptReply(Packet* pkt, const struct iovec* iov) {
  const LocalFrame& f = pkt->frame;
  struct syslink_msg hdr = LoadHeader(pkt->msg);
  Pending p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(hdr.sm_msgid);
    if (it == pending_.end()) {
      stats_.late_replies++;
      return 0;
    }
    p = it->second;
    pending_.erase(it);
    ReleaseLocked(p);
    stats_.replies_received++;
  }
  // The data, if any, goes into the buffer given with the command.
  size_t data = 0;
  bool bad = false;
  const size_t want = std::min<size_t>(f.dma_bytes, p.dmar_room);
  if (f.dma_bytes > p.dmar_room) bad = true;
  switch (f.carrier) {
    case Carrier::kNone:
      bad |= f.dma_bytes != 0;
      break;
    case Carrier::kPipe:
      if (p.dmar_buf != nullptr) data = DrainPipe(pkt->fd.get(), p.dmar_buf, want);
      bad |= p.dmar_buf == nullptr || data != want;
      break;
    case Carrier::kMemfd:
      if (p.dmar_buf != nullptr && (f.flags & LocalFrame::kFlagCopy) &&
          ReadOneOff(pkt->fd.get(), f.dma_offset, p.dmar_buf, want) == 0) {
        data = want;
      } else {
        bad = true;
      }
      break;
    case Carrier::kDirect:
      if (p.dmar_direct) {
        data = want;
      } else {
        bad = true;
      }
      break;
  }
  if (bad || data != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (bad) stats_.rejected++;  // the reply is still delivered: it is the one
    stats_.dma_bytes_received += data;
  }
  hdr.sm_rlabel = p.rlabel;
  hdr.sm_sessid = options_.sessid;
  hdr.sm_head.se_cmd = static_cast<sl_cmd_t>(
      data > 0 ? (hdr.sm_head.se_cmd | SE_CMDF_DMAR) : (hdr.sm_head.se_cmd & ~SE_CMDF_DMAR));
  StoreHeader(pkt->msg, hdr);
  if (pkt->msg != iov[0].iov_base) memcpy(iov[0].iov_base, pkt->msg, pkt->msg_len);
  ThreadDmaBytes() = data;
  ThreadDmarRoom() = 0;
  return static_cast<ssize_t>(pkt->msg_len);
}

ssize_t Link::AcceptCommand(Packet* pkt, const struct iovec* iov, int iovcnt) {
  const LocalFrame& f = pkt->frame;
  struct syslink_msg hdr = LoadHeader(pkt->msg);
  const bool dmaw = hdr.sm_head.se_cmd & SE_CMDF_DMAW;
  const bool dmar = hdr.sm_head.se_cmd & SE_CMDF_DMAR;
  const bool one_off = f.flags & LocalFrame::kFlagCopy;
  // The frame must agree with the DMA flags of the command.
  bool ok;
  switch (f.carrier) {
    case Carrier::kNone: ok = !dmaw && f.dma_bytes == 0; break;
    case Carrier::kPipe: ok = dmaw; break;
    case Carrier::kMemfd: ok = dmaw || (dmar && !one_off); break;
    default: ok = false; break;
  }
  if (!ok || (!dmaw && f.dma_bytes != 0) || (!dmar && f.dma_room != 0)) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.rejected++;
    return 0;
  }
  auto reject = [&]() -> ssize_t {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.rejected++;
    return 0;
  };
  // The originator's memfd: announced now, announced before (by id), or
  // given for this message only.
  std::shared_ptr<Mapping> map;
  int map_fd = -1;
  if (f.carrier == Carrier::kMemfd && !one_off) {
    if (f.dma_buffer != 0) {
      if (pkt->fd.ok()) {
        std::shared_ptr<Mapping> m;
        if (MapCache::Get().Map(pkt->fd.get(), dmar, &m) != 0) return reject();
        if (!peer_bufs_.contains(f.dma_buffer) && peer_bufs_.size() >= kMaxAnnounced) {
          return reject();  // more than the sender may announce
        }
        peer_bufs_[f.dma_buffer] = PeerBuffer{std::move(m), std::move(pkt->fd)};
      }
      auto it = peer_bufs_.find(f.dma_buffer);
      if (it == peer_bufs_.end()) return Refuse(hdr, ESTALE);  // never announced here
      map = it->second.map;
      map_fd = it->second.fd.get();
    } else {
      if (MapCache::Get().Map(pkt->fd.get(), dmar, &map) != 0) return reject();
      map_fd = pkt->fd.get();
    }
    const size_t span = std::max(f.dma_bytes, f.dma_room);
    if (f.dma_offset > map->size || span > map->size - f.dma_offset ||
        (dmar && !map->writable)) {
      return reject();
    }
  }
  Owed owed{hdr.sm_rlabel, static_cast<uint32_t>(pkt->msg_len), dmar, f.dma_room,
            nullptr, 0};
  if (dmar && map != nullptr) {
    // The originator shared its buffer: the reply is written in place.
    owed.direct = map;
    owed.direct_offset = f.dma_offset;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (owed_.contains(hdr.sm_msgid) || owed_.size() >= kMaxOwed ||
        owed_bytes_ + pkt->msg_len > kMaxOwedBytes) {
      stats_.rejected++;  // a duplicate msgid, or a peer over every bound
      return 0;
    }
    owed_bytes_ += pkt->msg_len;
    owed_.emplace(hdr.sm_msgid, std::move(owed));
    stats_.cmds_received++;
  }
  size_t data = 0;
  if (dmaw && f.dma_bytes > 0 && options_.defer_dma) {
    // Left in place for the reader (TakeDeferredDma).
    DeferredDma& d = ThreadDeferred();
    d.bytes_ = f.dma_bytes;
    if (map != nullptr) {
      d.map_ = map;
      d.offset_ = f.dma_offset;
    } else {
      d.fd_ = std::move(pkt->fd);
      d.offset_ = f.dma_offset;
      d.one_off_ = one_off;
    }
    std::lock_guard<std::mutex> lock(mu_);
    data = f.dma_bytes;
    stats_.dma_bytes_received += data;
  } else if (dmaw && f.dma_bytes > 0) {
    auto* dst = static_cast<unsigned char*>(iov[1].iov_base);
    int err = 0;
    size_t mapped = 0;
    if (map != nullptr && map_mode_ && f.dma_buffer != 0) {
      // Map mode: whole pages arrive as a read-only view of the originator's
      // pages (nothing copied; nothing at all if the same view is there).
      const size_t page = PageSize();
      const size_t whole = f.dma_bytes / page * page;
      if (whole > 0 && reinterpret_cast<uintptr_t>(dst) % page == 0 &&
          f.dma_offset % page == 0 &&
          DmaBuffers::Get().MapView(dst, whole, map_fd,
                                    {serial_, f.dma_buffer, f.dma_offset})) {
        mapped = whole;
      }
    }
    // What is copied must land in writable memory: no view there.
    DmaBuffers::Get().DropViews(dst + mapped, f.dma_bytes - mapped);
    if (f.carrier == Carrier::kPipe) {
      if (DrainPipe(pkt->fd.get(), dst, f.dma_bytes) != f.dma_bytes) err = EINVAL;
    } else if (one_off) {
      err = ReadOneOff(pkt->fd.get(), f.dma_offset, dst, f.dma_bytes);
    } else if (f.dma_bytes > mapped) {
      memcpy(dst + mapped, map->addr + f.dma_offset + mapped, f.dma_bytes - mapped);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (err != 0) {  // the peer's data was not where it said: drop it
      auto it = owed_.find(hdr.sm_msgid);
      owed_bytes_ -= it->second.bytes;
      owed_.erase(it);
      stats_.cmds_received--;
      stats_.rejected++;
      return 0;
    }
    data = f.dma_bytes;
    stats_.dma_bytes_received += data;
  }
  (void)iovcnt;
  hdr.sm_sessid = options_.sessid;
  StoreHeader(pkt->msg, hdr);
  if (pkt->msg != iov[0].iov_base) memcpy(iov[0].iov_base, pkt->msg, pkt->msg_len);
  ThreadDmaBytes() = data;
  ThreadDmarRoom() = dmar ? f.dma_room : 0;
  return static_cast<ssize_t>(pkt->msg_len);
}

// ---------------------------------------------------------------------------
// Writing

int Link::Stage(const struct iovec& iov0, unsigned char* buf) {
  const size_t len = iov0.iov_len;
  if (len > SL_MAXSIZE) return -EFBIG;
  if (iov0.iov_base == nullptr) return -EFAULT;
  if (shutdown_) return -EBADF;
  memcpy(buf, iov0.iov_base, len);
  return -sl_msg_validate(buf, len);
}

ssize_t Link::Write(const struct iovec* iov, int iovcnt) {
  if (iov == nullptr || iovcnt < 1 || iovcnt > 2) return -EINVAL;
  // Work on a copy: the transport sets sm_sessid and sm_rlabel, and a
  // reversed-byte-order message is swapped; the caller's buffer is const.
  // The frame goes in front of the message, so the packet is one piece.
  alignas(8) unsigned char packet[sizeof(LocalFrame) + SL_MAXSIZE];
  unsigned char* buf = packet + sizeof(LocalFrame);
  if (const int err = Stage(iov[0], buf); err != 0) return err;
  const size_t len = iov[0].iov_len;
  auto* msg = reinterpret_cast<struct syslink_msg*>(buf);
  const struct iovec* dma = iovcnt == 2 ? &iov[1] : nullptr;
  if (msg->sm_proto == SMPROTO_PAD) {
    if (dma != nullptr) return -EINVAL;
    LocalFrame f = {};
    f.magic = LocalFrame::kMagic;
    return SendPacket(f, buf, len, -1);
  }
  if (dma != nullptr) {
    if (dma->iov_len > SL_DMA_MAX) return -EFBIG;
    if (dma->iov_base == nullptr && dma->iov_len > 0) return -EFAULT;
  }
  msg->sm_sessid = options_.sessid;
  return (msg->sm_proto & SM_PROTO_REPLY) ? WriteReply(msg, len, dma, dma != nullptr ? 1 : 0)
                                          : WriteCommand(msg, len, dma);
}

ssize_t Link::WriteReplyGather(const struct iovec& iov0, const struct iovec* dma, int ndma) {
  if (ndma < 0) return -EINVAL;
  if (ndma > 0 && dma == nullptr) return -EFAULT;
  size_t total = 0;
  for (int i = 0; i < ndma; i++) {
    if (dma[i].iov_base == nullptr && dma[i].iov_len > 0) return -EFAULT;
    total += dma[i].iov_len;
  }
  if (total > SL_DMA_MAX) return -EFBIG;
  alignas(8) unsigned char packet[sizeof(LocalFrame) + SL_MAXSIZE];
  unsigned char* buf = packet + sizeof(LocalFrame);
  if (const int err = Stage(iov0, buf); err != 0) return err;
  auto* msg = reinterpret_cast<struct syslink_msg*>(buf);
  if (!(msg->sm_proto & SM_PROTO_REPLY)) return -EINVAL;
  msg->sm_sessid = options_.sessid;
  return WriteReply(msg, iov0.iov_len, dma, ndma);
}

ssize_t Link::WriteCommand(struct syslink_msg* msg, size_t len,
                           const struct iovec* dma) {
  const bool dmaw = msg->sm_head.se_cmd & SE_CMDF_DMAW;
  const bool dmar = msg->sm_head.se_cmd & SE_CMDF_DMAR;
  if ((dmaw || dmar) != (dma != nullptr)) return -EINVAL;
  LocalFrame f = {};
  f.magic = LocalFrame::kMagic;
  uint64_t announce = 0;
  Pending p = {};
  p.proto = msg->sm_proto;
  p.cmd = msg->sm_head.se_cmd;
  p.rlabel = msg->sm_rlabel;
  p.bytes = static_cast<uint32_t>(len);
  int memfd = -1;
  if (dma != nullptr) {
    if (!options_.copy_out && reinterpret_cast<uintptr_t>(dma->iov_base) % PageSize() != 0) {
      return -EINVAL;
    }
    const uint32_t dlen = static_cast<uint32_t>(dma->iov_len);
    p.dma_len = dlen;
    if (dmar) {
      p.dmar_buf = static_cast<char*>(dma->iov_base);
      p.dmar_room = dlen;
      f.dma_room = dlen;
    }
    if (dmaw) f.dma_bytes = dlen;
    // The reply's data will be written here: no mapped view may cover it.
    if (dmar) DmaBuffers::Get().DropViews(dma->iov_base, dlen);
    uint64_t offset, id;
    if (DmaBuffers::Get().Find(dma->iov_base, dlen, dmar, &memfd, &offset, &id)) {
      f.carrier = Carrier::kMemfd;
      f.dma_offset = offset;
      p.dmar_direct = dmar;
      // The descriptor crosses this link once (per access level).
      std::lock_guard<std::mutex> lock(mu_);
      auto it = announced_.find(id);
      if (it != announced_.end() && (it->second || !dmar)) {
        memfd = -1;  // the peer has it
        f.dma_buffer = id;
      } else if (it != announced_.end() || announced_.size() < kMaxAnnounced) {
        f.dma_buffer = id;  // announced by this message
        announce = id;
      }
    }
  }
  const int rerr = Reserve(msg->sm_msgid, p);
  if (rerr != 0) return -rerr;
  common::UniqueFd pipe_fd;
  if (dma != nullptr && dmaw && f.carrier != Carrier::kMemfd) {
    int fd;
    bool as_memfd;
    const int perr = options_.copy_out
                         ? MakeCopyPipe(dma->iov_base, dma->iov_len, &fd, &as_memfd)
                         : MakeSplicePipe(dma->iov_base, dma->iov_len, &fd, &as_memfd);
    if (perr != 0) {
      Unreserve(msg->sm_msgid);
      return -perr;
    }
    pipe_fd.reset(fd);
    f.carrier = as_memfd ? Carrier::kMemfd : Carrier::kPipe;
    if (as_memfd) f.flags |= LocalFrame::kFlagCopy;
    memfd = fd;
  }
  const ssize_t r = SendPacket(f, reinterpret_cast<unsigned char*>(msg), len, memfd);
  if (r < 0) {
    Unreserve(msg->sm_msgid);
    return r;
  }
  if (f.dma_bytes != 0 || announce != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.dma_bytes_sent += f.dma_bytes;
    if (announce != 0) announced_[announce] = announced_[announce] || dmar;
  }
  if (announce != 0) DmaBuffers::Get().Watch(announce, weak_from_this());
  return static_cast<ssize_t>(len);
}

ssize_t Link::WriteReply(struct syslink_msg* msg, size_t len,
                         const struct iovec* dma, int ndma) {
  size_t dma_len = 0;
  for (int i = 0; i < ndma; i++) dma_len += dma[i].iov_len;
  if (ndma == 0) dma = nullptr;
  Owed owed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (eof_) return -EPIPE;
    auto it = owed_.find(msg->sm_msgid);
    if (it == owed_.end()) return -ENOENT;
    if (dma != nullptr && !it->second.dmar) return -EINVAL;
    if (dma != nullptr && dma_len > it->second.dmar_room) return -EFBIG;
    owed = std::move(it->second);
    owed_bytes_ -= owed.bytes;
    owed_.erase(it);
    stats_.replies_sent++;  // taken back below if it is not sent
  }
  msg->sm_rlabel = owed.rlabel;
  LocalFrame f = {};
  f.magic = LocalFrame::kMagic;
  common::UniqueFd data_fd;
  if (dma != nullptr && dma_len > 0) {
    f.dma_bytes = static_cast<uint32_t>(dma_len);
    if (owed.direct != nullptr) {
      char* dst = owed.direct->addr + owed.direct_offset;
      for (int i = 0; i < ndma; i++) {
        memcpy(dst, dma[i].iov_base, dma[i].iov_len);
        dst += dma[i].iov_len;
      }
      f.carrier = Carrier::kDirect;
    } else {
      int fd;
      bool as_memfd;
      const int perr = MakeCopyPipev(dma, ndma, &fd, &as_memfd);
      if (perr != 0) {
        std::lock_guard<std::mutex> lock(mu_);
        owed_bytes_ += owed.bytes;
        owed_.emplace(msg->sm_msgid, std::move(owed));
        return -perr;
      }
      data_fd.reset(fd);
      f.carrier = as_memfd ? Carrier::kMemfd : Carrier::kPipe;
      if (as_memfd) f.flags |= LocalFrame::kFlagCopy;
    }
  }
  const ssize_t r =
      SendPacket(f, reinterpret_cast<unsigned char*>(msg), len, data_fd.get());
  if (r >= 0 && f.dma_bytes == 0) return static_cast<ssize_t>(len);
  std::lock_guard<std::mutex> lock(mu_);
  if (r < 0) stats_.replies_sent--;
  if (r == -EAGAIN || r == -EINTR) {  // not sent: still owed
    owed_bytes_ += owed.bytes;
    owed_.emplace(msg->sm_msgid, std::move(owed));
    return r;
  }
  if (r < 0) return r;
  stats_.dma_bytes_sent += f.dma_bytes;
  return static_cast<ssize_t>(len);
}

int Link::Reserve(uint64_t msgid, Pending p) {
  bool counted = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return EBADF;
      if (eof_) return EPIPE;
      if (pending_.contains(msgid)) return EEXIST;
      const bool fits = pending_.empty() ||
                        (out_bytes_ + p.bytes <= quota_ && out_dma_ + p.dma_len <= dma_quota_);
      if (fits) {
        p.seq = next_seq_++;
        pending_.emplace(msgid, p);
        out_bytes_ += p.bytes;
        out_dma_ += p.dma_len;
        stats_.cmds_sent++;  // taken back by Unreserve if the send fails
        return 0;
      }
    }
    if (NonBlocking()) return EAGAIN;
    int efd;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!counted) stats_.quota_waits++;
      counted = true;
      if (quota_efd_ < 0) {
        quota_efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
        if (quota_efd_ < 0) return errno;
      }
      efd = quota_efd_;
      waiters_++;
      // Re-check under the lock: a release between the two locks would
      // otherwise be missed (it signalled nobody).
      const bool fits = pending_.empty() ||
                        (out_bytes_ + p.bytes <= quota_ && out_dma_ + p.dma_len <= dma_quota_);
      if (fits || eof_ || shutdown_) {
        waiters_--;
        continue;
      }
    }
    // POLLHUP on the socket (always reported) means the far end is gone.
    struct pollfd pfd[2] = {{fd_, 0, 0}, {efd, POLLIN, 0}};
    const int n = poll(pfd, 2, -1);
    const int saved = errno;
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiters_--;
    }
    if (n < 0 && saved == EINTR) return EINTR;
    if (pfd[1].revents & POLLIN) {
      uint64_t v;
      (void)!read(efd, &v, sizeof v);
    }
    if (pfd[0].revents & (POLLHUP | POLLERR)) return shutdown_ ? EBADF : EPIPE;
  }
}

void Link::ReleaseLocked(const Pending& p) {
  out_bytes_ -= p.bytes;
  out_dma_ -= p.dma_len;
  if (waiters_ > 0 && quota_efd_ >= 0) {
    uint64_t n = waiters_;
    (void)!write(quota_efd_, &n, sizeof n);
  }
}

void Link::Unreserve(uint64_t msgid) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.cmds_sent--;
  auto it = pending_.find(msgid);
  if (it == pending_.end()) return;  // the far end died meanwhile
  ReleaseLocked(it->second);
  pending_.erase(it);
}

ssize_t Link::SendPacket(const LocalFrame& frame, unsigned char* msg, size_t len,
                         int fd) {
  unsigned char* packet = msg - sizeof(LocalFrame);
  memcpy(packet, &frame, sizeof frame);
  struct iovec v = {packet, sizeof frame + len};
  struct msghdr mh = {};
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  for (;;) {
    // Without a descriptor to pass, send() is the cheaper system call.
    n = fd >= 0 ? sendmsg(fd_, &mh, MSG_NOSIGNAL)
                : send(fd_, packet, sizeof frame + len, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<ssize_t>(len);
    // The socket is full. A non-blocking socket under a blocking caller
    // (a Listener's session) waits here; POLLHUP ends the wait.
    if (errno != EAGAIN || NonBlocking()) break;
    struct pollfd pfd = {fd_, POLLOUT, 0};
    if (poll(&pfd, 1, -1) < 0 && errno == EINTR) return -EINTR;
    if (shutdown_) return -EBADF;
  }
  switch (errno) {
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN:
      return shutdown_ ? -EBADF : -EPIPE;
    default:
      return -errno;
  }
}

}  // namespace libsyslink
