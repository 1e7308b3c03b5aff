#include "libsyslink/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>

#include "libsyslink/meshd_client.h"

namespace libsyslink {
namespace {

// epoll tags. Session ids from meshd are never this small (Decode rejects
// them in OnSessionOpen).
constexpr uint64_t kTagControl = 1;
constexpr uint64_t kTagWake = 2;
constexpr uint64_t kTagTimer = 3;
constexpr uint64_t kMinSessid = 1u << 16;

constexpr int kRegisterTimeoutMs = 5000;
constexpr int64_t kBackoffMinMs = 50;
constexpr int64_t kBackoffMaxMs = 2000;

int Watch(int epfd, int fd, uint64_t tag) {
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = tag;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void Unwatch(int epfd, int fd) { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr); }

void AddStats(struct syslink_stats* to, const struct syslink_stats& s) {
  to->cmds_sent += s.cmds_sent;
  to->replies_received += s.replies_received;
  to->replies_synthesized += s.replies_synthesized;
  to->cmds_received += s.cmds_received;
  to->replies_sent += s.replies_sent;
  to->rejected += s.rejected;
  to->late_replies += s.late_replies;
  to->dma_bytes_sent += s.dma_bytes_sent;
  to->dma_bytes_received += s.dma_bytes_received;
  to->quota_waits += s.quota_waits;
}

}  // namespace

int Listener::Create(const std::string& service, int flags,
                     std::shared_ptr<Listener>* out) {
  common::UniqueFd ctl_fd;
  int err = DialMeshd(&ctl_fd);
  if (err != 0) return err;
  ctl::Message req;
  req.op = ctl::Op::kListen;
  req.msgid = 1;
  req.service = service;
  ctl::Message reply;
  common::UniqueFd unused;
  err = Call(ctl_fd.get(), req, kRegisterTimeoutMs, &reply, &unused);
  if (err != 0) return err;
  if (reply.error != 0) return reply.error;
  common::UniqueFd epfd(epoll_create1(EPOLL_CLOEXEC));
  if (!epfd.ok()) return errno;
  if (flags & SYSLINK_FLAG_NONBLOCK) fcntl(epfd.get(), F_SETFL, O_NONBLOCK);
  std::shared_ptr<Listener> l(new Listener(service, std::move(epfd), std::move(ctl_fd)));
  err = l->Init();
  if (err != 0) return err;
  *out = std::move(l);
  return 0;
}

Listener::Listener(std::string service, common::UniqueFd epfd, common::UniqueFd ctl)
    : service_(std::move(service)), epfd_(std::move(epfd)), ctl_(std::move(ctl)) {
  registered_ = true;
  next_msgid_ = 2;
}

int Listener::Init() {
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!wake_.ok() || !timer_.ok()) return errno;
  int err = Watch(epfd_.get(), wake_.get(), kTagWake);
  if (err == 0) err = Watch(epfd_.get(), timer_.get(), kTagTimer);
  std::lock_guard<std::mutex> lock(mu_);
  if (err == 0) err = Watch(epfd_.get(), ctl_.get(), kTagControl);
  return err;
}

Listener::~Listener() {
  // Sessions close with their Links: each client sees end-of-file.
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.clear();
}

bool Listener::NonBlocking() const {
  const int fl = fcntl(epfd_.get(), F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

void Listener::Shutdown() {
  shutdown_ = true;
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [sessid, link] : sessions_) link->Shutdown();
}

// ---------------------------------------------------------------------------
// Notices

void Listener::PutNotice(const Notice& n, void* buf) {
  auto* msg = static_cast<struct syslink_msg*>(buf);
  struct syslink_msg m = {};
  m.sm_proto = SMPROTO_NOTICE | SM_PROTO_REPLY;
  m.sm_bytes = SL_MIN_MSG_SIZE;
  m.sm_sessid = n.sessid;
  m.sm_head.se_cmd = static_cast<sl_cmd_t>(n.what | SE_CMDF_GLOBAL | SE_CMDF_REPLY);
  m.sm_head.se_bytes = SL_MIN_ELM_SIZE;
  m.sm_head.se_aux = n.why;
  memcpy(msg, &m, sizeof m);
}

void Listener::QueueNotice(const Notice& n) {
  notices_.push_back(n);
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
}

// ---------------------------------------------------------------------------
// Control connection

void Listener::HandleControl() {
  while (ctl_.ok()) {
    ctl::Message m;
    common::UniqueFd fd;
    const int err = ctl::Receive(ctl_.get(), MSG_DONTWAIT, &m, &fd);
    if (err == EAGAIN) return;
    if (err == EINVAL) continue;  // nonsense from meshd: ignore it
    if (err != 0) {
      LostMeshd();
      return;
    }
    if (m.reply) {
      if (m.op == ctl::Op::kListen && !registered_) {
        if (m.error == 0) {
          registered_ = true;
          backoff_ms_ = 0;
        } else {
          LostMeshd();  // the name is taken, or meshd is at a limit: retry
          return;
        }
      }
      continue;  // replies to kSessionEnded need nothing
    }
    if (m.op == ctl::Op::kSessionOpen) {
      OnSessionOpen(m, std::move(fd));
    } else if (m.op == ctl::Op::kSessionEnded) {
      // meshd says why a relayed session is ending, before it closes it.
      end_reasons_[m.sessid] = m.why;
      ctl::Send(ctl_.get(), ctl::ReplyTo(m, 0));
    } else {
      ctl::Send(ctl_.get(), ctl::ReplyTo(m, EINVAL));
    }
  }
}

void Listener::OnSessionOpen(const ctl::Message& m, common::UniqueFd fd) {
  int err = 0;
  if (!fd.ok() || m.sessid < kMinSessid || sessions_.contains(m.sessid)) {
    err = EINVAL;
  } else if (sessions_.size() >= kMaxSessions) {
    err = EAGAIN;
  }
  if (err == 0) {
    fcntl(fd.get(), F_SETFL, O_NONBLOCK);
    fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
    Link::Options opts;
    opts.sessid = m.sessid;
    opts.death_errno = m.kind == static_cast<uint32_t>(ctl::Kind::kRelayed) ? ECONNABORTED
                                                                           : ECONNRESET;
    opts.nonblock_fd = epfd_.get();
    const int raw = fd.release();
    auto link = std::make_shared<Link>(raw, opts);
    if (quota_ != 0 || dma_quota_ != 0) link->SetQuota(quota_, dma_quota_);
    if (dma_map_) link->SetDmaMap(true);
    err = Watch(epfd_.get(), raw, m.sessid);
    if (err == 0) {
      sessions_.emplace(m.sessid, std::move(link));
      QueueNotice(Notice{m.sessid, SL_NOTICE_SESSION_OPEN, 0});
    }
  }
  ctl::Send(ctl_.get(), ctl::ReplyTo(m, err));
}

Listener::Notice Listener::EndSession(uint64_t sessid) {
  auto it = sessions_.find(sessid);
  Notice n{sessid, SL_NOTICE_SESSION_CLOSED, ECONNRESET};
  if (it == sessions_.end()) return n;
  n.why = it->second->death_errno();
  struct syslink_stats st;
  it->second->GetStats(&st);
  AddStats(&closed_stats_, st);
  Unwatch(epfd_.get(), it->second->fd());
  sessions_.erase(it);
  auto why = end_reasons_.find(sessid);
  if (why != end_reasons_.end()) {
    n.why = why->second;
    end_reasons_.erase(why);
  }
  if (ctl_.ok() && registered_) {
    ctl::Message m;
    m.op = ctl::Op::kSessionEnded;
    m.msgid = next_msgid_++;
    m.sessid = sessid;
    m.why = n.why;
    ctl::Send(ctl_.get(), m);
  }
  return n;
}

void Listener::LostMeshd() {
  if (ctl_.ok()) {
    Unwatch(epfd_.get(), ctl_.get());
    ctl_.reset();
  }
  registered_ = false;
  backoff_ms_ = backoff_ms_ == 0 ? kBackoffMinMs : std::min(backoff_ms_ * 2, kBackoffMaxMs);
  ArmTimer(backoff_ms_);
}

void Listener::ArmTimer(int64_t ms) {
  struct itimerspec its = {};
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (ms % 1000) * 1000000;
  timerfd_settime(timer_.get(), 0, &its, nullptr);
}

void Listener::Reconnect() {
  uint64_t ticks;
  (void)!read(timer_.get(), &ticks, sizeof ticks);
  if (ctl_.ok()) return;
  common::UniqueFd fd;
  if (DialMeshd(&fd) != 0) {
    LostMeshd();
    return;
  }
  // Asynchronous: the reply is handled by HandleControl.
  ctl::Message req;
  req.op = ctl::Op::kListen;
  req.msgid = next_msgid_++;
  req.service = service_;
  if (ctl::Send(fd.get(), req) != 0 || Watch(epfd_.get(), fd.get(), kTagControl) != 0) {
    LostMeshd();
    return;
  }
  ctl_ = std::move(fd);
}

// ---------------------------------------------------------------------------
// I/O

ssize_t Listener::Read(const struct iovec* iov, int iovcnt) {
  if (iov == nullptr || iovcnt < 1 || iovcnt > 2) return -EINVAL;
  if (iov[0].iov_base == nullptr && iov[0].iov_len > 0) return -EFAULT;
  for (;;) {
    if (shutdown_) return -EBADF;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!notices_.empty()) {
        if (iov[0].iov_len < SL_MIN_MSG_SIZE) return -ENOSPC;
        PutNotice(notices_.front(), iov[0].iov_base);
        notices_.pop_front();
        if (notices_.empty()) {
          uint64_t v;
          (void)!read(wake_.get(), &v, sizeof v);
        }
        ThreadDmaBytes() = 0;
        return SL_MIN_MSG_SIZE;
      }
    }
    // Look first; only a caller about to sleep pays for asking whether it
    // made the descriptor non-blocking (a system call, under load each
    // message's).
    struct epoll_event evs[16];
    int n = epoll_wait(epfd_.get(), evs, 16, 0);
    if (n == 0 && !NonBlocking()) n = epoll_wait(epfd_.get(), evs, 16, -1);
    if (n < 0) {
      if (errno == EINTR) return -EINTR;
      return -errno;
    }
    if (n == 0) return -EAGAIN;
    for (int i = 0; i < n; i++) {
      const uint64_t tag = evs[i].data.u64;
      if (tag == kTagWake) continue;  // notices are taken at the top
      if (tag == kTagControl || tag == kTagTimer) {
        std::lock_guard<std::mutex> lock(mu_);
        if (tag == kTagControl) {
          HandleControl();
        } else {
          Reconnect();
        }
        continue;
      }
      std::shared_ptr<Link> link;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sessions_.find(tag);
        if (it == sessions_.end()) continue;  // ended meanwhile
        link = it->second;
      }
      const ssize_t r = link->ReadWithFlags(iov, iovcnt, MSG_DONTWAIT);
      if (r == -EAGAIN) continue;  // another thread took it
      if (r != 0) return r;        // a message, or an error for the caller
      // The client is gone and its last synthesized reply was delivered.
      std::lock_guard<std::mutex> lock(mu_);
      if (!sessions_.contains(tag)) continue;
      const Notice notice = EndSession(tag);
      if (iov[0].iov_len < SL_MIN_MSG_SIZE) {
        QueueNotice(notice);
        return -ENOSPC;
      }
      PutNotice(notice, iov[0].iov_base);
      ThreadDmaBytes() = 0;
      return SL_MIN_MSG_SIZE;
    }
  }
}

ssize_t Listener::Write(const struct iovec* iov, int iovcnt) {
  if (iov == nullptr || iovcnt < 1 || iovcnt > 2) return -EINVAL;
  if (iov[0].iov_base == nullptr) return -EFAULT;
  if (shutdown_) return -EBADF;
  if (iov[0].iov_len < SL_MIN_PAD_SIZE) return -EINVAL;
  sl_proto_t proto;
  memcpy(&proto, iov[0].iov_base, sizeof proto);
  if (proto == SMPROTO_PAD) return static_cast<ssize_t>(iov[0].iov_len);  // no session
  if (iov[0].iov_len < SL_MIN_MSG_SIZE) return -EINVAL;
  uint64_t sessid;
  memcpy(&sessid, static_cast<const char*>(iov[0].iov_base) +
                      offsetof(struct syslink_msg, sm_sessid),
         sizeof sessid);
  if (proto & SM_PROTO_ENDIAN_REV) sessid = __builtin_bswap64(sessid);
  std::shared_ptr<Link> link;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(sessid);
    if (it == sessions_.end()) return -EPIPE;  // no such session (any more)
    link = it->second;
  }
  return link->Write(iov, iovcnt);
}

int Listener::SetQuota(size_t cmd_bytes, size_t dma_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cmd_bytes != 0) quota_ = cmd_bytes;
  if (dma_bytes != 0) dma_quota_ = dma_bytes;
  for (auto& [sessid, link] : sessions_) link->SetQuota(cmd_bytes, dma_bytes);
  return 0;
}

int Listener::SetDmaMap(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  dma_map_ = on;
  for (auto& [sessid, link] : sessions_) link->SetDmaMap(on);
  return 0;
}

int Listener::GetStats(struct syslink_stats* st) {
  std::lock_guard<std::mutex> lock(mu_);
  *st = closed_stats_;
  st->quota_bytes = static_cast<uint32_t>(quota_ ? quota_ : SYSLINK_QUOTA_DEFAULT);
  st->dma_quota_bytes = static_cast<uint32_t>(dma_quota_ ? dma_quota_ : SYSLINK_DMA_QUOTA_DEFAULT);
  for (auto& [sessid, link] : sessions_) {
    struct syslink_stats s;
    link->GetStats(&s);
    AddStats(st, s);
    st->outstanding += s.outstanding;
    st->outstanding_bytes += s.outstanding_bytes;
    st->outstanding_dma_bytes += s.outstanding_dma_bytes;
    st->unreplied += s.unreplied;
  }
  st->sessid = 0;
  return 0;
}

}  // namespace libsyslink
