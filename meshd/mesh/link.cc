#include "meshd/mesh/link.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cassert>

#include "common/log.h"
#include "meshd/mesh/address.h"
#include "meshd/mesh/messages.h"
#include "proto/mesh.pb.h"

namespace meshd {
namespace mesh {

namespace {

// Bounds on the work one wake-up does for one link, so that one busy link
// cannot starve the others.
constexpr int kMaxReadsPerWakeup = 64;
constexpr int kMaxWritesPerFlush = 16;
constexpr int kMaxIovPerWrite = 256;

uint64_t NowUs() { return uv_hrtime() / 1000; }

}  // namespace

Link::Link(const LinkConfig* config, Owner* owner, LinkId id, int fd, bool dialed)
    : config_(config),
      owner_(owner),
      id_(id),
      fd_(fd),
      dialed_(dialed),
      decoder_(kMaxHandshakeFrameBytes) {
  poll_.data = this;
  created_ms_ = NowMs();
  created_ = absl::Now();
  control_tokens_ = config_->control_burst;
  control_tokens_ms_ = created_ms_;
}

Link::~Link() {
  // The handle must have been released (or never made).
  assert(!poll_inited_ || state_ == LinkState::kClosing);
  close(fd_);
}

uint64_t Link::NowMs() const { return uv_now(config_->loop); }

const Nonce* Link::dialer_nonce() const {
  if (handshake_ == nullptr || peer_id_ == 0) return nullptr;
  return dialed_ ? &handshake_->nonce() : &handshake_->peer().nonce;
}

int Link::Start(const struct sockaddr* addr, socklen_t len) {
  assert(!poll_inited_);
  const int r = uv_poll_init_socket(config_->loop, &poll_, fd_);
  if (r != 0) return r;
  poll_inited_ = true;
  if (addr == nullptr) {
    BeginHandshake();
    return 0;
  }
  state_ = LinkState::kConnecting;
  remote_address_ = SockaddrToString(addr);
  if (connect(fd_, addr, len) == 0) {
    BeginHandshake();
    return 0;
  }
  if (errno != EINPROGRESS) {
    Close(LinkCloseReason::kIoError, std::string("connect: ") + strerror(errno));
    return 0;
  }
  want_writable_ = true;
  UpdatePoll();
  return 0;
}

void Link::FinishConnect() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    Close(LinkCloseReason::kIoError, std::string("connect: ") + strerror(err));
    return;
  }
  want_writable_ = false;
  BeginHandshake();
}

void Link::BeginHandshake() {
  state_ = LinkState::kHandshake;
  handshake_started_ms_ = NowMs();
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<struct sockaddr*>(&ss), &len) == 0) {
    local_address_ = SockaddrToString(reinterpret_cast<struct sockaddr*>(&ss));
  }
  len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<struct sockaddr*>(&ss), &len) == 0) {
    remote_address_ = SockaddrToString(reinterpret_cast<struct sockaddr*>(&ss));
  }
  Nonce nonce;
  if (!RandomNonce(&nonce)) {
    Close(LinkCloseReason::kIoError, "no random bytes for the nonce");
    return;
  }
  handshake_ = std::make_unique<Handshake>(
      dialed_ ? Handshake::Role::kDialer : Handshake::Role::kAcceptor, config_->self_id,
      config_->self_name, config_->keys, config_->max_frame_bytes, nonce);
  SendControl(FrameType::kHello, handshake_->hello());
  UpdatePoll();
}

void Link::UpdatePoll() {
  if (!poll_inited_ || state_ == LinkState::kClosing) return;
  int events = 0;
  if (!frozen_) {
    if (state_ == LinkState::kConnecting) {
      events = UV_WRITABLE;
    } else {
      if (!read_paused_ || state_ == LinkState::kHandshake) events |= UV_READABLE;
      // While paused, still learn at once that the peer hung up.
      events |= UV_DISCONNECT;
      if (want_writable_) events |= UV_WRITABLE;
    }
  }
  if (events == poll_events_) return;
  poll_events_ = events;
  if (events == 0) {
    uv_poll_stop(&poll_);
  } else {
    uv_poll_start(&poll_, events, OnPollEvent);
  }
}

void Link::OnPollEvent(uv_poll_t* h, int status, int events) {
  auto* link = static_cast<Link*>(h->data);
  if (link->closing()) return;
  if (status < 0) {
    // libuv reports EPOLLERR as UV_EBADF: the socket's own error says more.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(link->fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) err = -status;
    link->CloseForErrno(err, "socket");
    return;
  }
  if (link->state_ == LinkState::kConnecting) {
    if (events & (UV_WRITABLE | UV_DISCONNECT)) link->FinishConnect();
    return;
  }
  if (events & UV_WRITABLE) link->Flush();
  if (link->closing()) return;
  const bool reading = !link->read_paused_ || link->state_ == LinkState::kHandshake;
  if (reading && (events & (UV_READABLE | UV_DISCONNECT))) {
    link->ReadSome();
  } else if (!reading && (events & UV_DISCONNECT)) {
    link->Close(LinkCloseReason::kPeerClosed, "peer hung up (reading paused)");
  }
}

bool Link::Paused() const { return read_paused_ && state_ == LinkState::kEstablished; }

bool Link::Deliver(std::vector<Frame>* frames) {
  for (size_t k = 0; k < frames->size(); k++) {
    if (closing()) return false;
    if (Paused()) {
      // Decoded before the pause: held until ResumeRead.
      for (size_t r = k; r < frames->size(); r++) held_.push_back(std::move((*frames)[r]));
      return false;
    }
    frames_in_++;
    HandleFrame((*frames)[k]);
  }
  return !closing();
}

void Link::Service() {
  if (!held_.empty() && !Paused() && !frozen_ && !closing()) ReadSome();
  if (!closing()) Flush();
}

void Link::ReadSome() {
  // First what was decoded before a pause.
  while (!held_.empty()) {
    if (closing() || Paused() || frozen_) return;
    Frame f = std::move(held_.front());
    held_.pop_front();
    frames_in_++;
    HandleFrame(f);
  }
  for (int i = 0; i < kMaxReadsPerWakeup && !closing() && !frozen_; i++) {
    if (Paused()) return;
    struct iovec iov[kMaxDecoderIov];
    const int cnt = decoder_.NextBuffers(iov);
    size_t want = 0;
    for (int k = 0; k < cnt; k++) want += iov[k].iov_len;
    const ssize_t n = readv(fd_, iov, cnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      CloseForErrno(errno, "read");
      return;
    }
    if (n == 0) {
      Close(LinkCloseReason::kPeerClosed,
            decoder_.mid_frame() ? "connection closed mid-frame" : "connection closed");
      return;
    }
    last_rx_ms_ = NowMs();
    bytes_in_ += static_cast<uint64_t>(n);
    frames_.clear();
    const ProtocolError err = decoder_.Commit(static_cast<size_t>(n), &frames_);
    // Frames completed before a bad header were well formed: handle them.
    Deliver(&frames_);
    frames_.clear();
    if (closing()) return;
    if (err != ProtocolError::kNone) {
      Fail(err, err == ProtocolError::kFrameTooLarge
                    ? "frame length over the limit"
                    : "unknown frame type");
      return;
    }
    if (static_cast<size_t>(n) < want) return;  // the socket is drained
  }
}

bool Link::TakeControlToken() {
  const uint64_t now = NowMs();
  if (now > control_tokens_ms_) {
    control_tokens_ += static_cast<double>(now - control_tokens_ms_) * config_->control_rate_per_s / 1000.0;
    if (control_tokens_ > config_->control_burst) control_tokens_ = config_->control_burst;
    control_tokens_ms_ = now;
  }
  if (control_tokens_ < 1) return false;
  control_tokens_ -= 1;
  return true;
}

void Link::HandleFrame(Frame& frame) {
  if (state_ == LinkState::kHandshake) {
    HandleHandshakeFrame(frame);
    return;
  }
  assert(state_ == LinkState::kEstablished);
  switch (frame.type) {
    case FrameType::kData:
      owner_->LinkFrame(this, frame);
      return;
    case FrameType::kHeartbeat:
    case FrameType::kLsa:
    case FrameType::kProbe:
      if (!TakeControlToken()) {
        Fail(ProtocolError::kFlood, "control frames over the rate limit");
        return;
      }
      if (frame.type == FrameType::kHeartbeat) {
        HandleHeartbeat(frame.payload);
      } else {
        owner_->LinkFrame(this, frame);
      }
      return;
    case FrameType::kGoodbye: {
      std::string reason;
      if (!ParseGoodbye(frame.payload, &reason)) {
        Fail(ProtocolError::kBadMessage, "bad goodbye");
        return;
      }
      Close(LinkCloseReason::kPeerClosed, "goodbye: " + reason);
      return;
    }
    case FrameType::kHello:
    case FrameType::kAuth:
    case FrameType::kReady:
      Fail(ProtocolError::kUnexpectedFrame,
           std::string(FrameTypeName(frame.type)) + " after the handshake");
      return;
  }
}

void Link::HandleHandshakeFrame(Frame& frame) {
  switch (frame.type) {
    case FrameType::kHello: {
      std::string auth;
      const HandshakeFailure f = handshake_->OnPeerHello(frame.payload, &auth);
      if (f != HandshakeFailure::kNone) {
        Refuse(f, "peer's hello refused");
        return;
      }
      peer_id_ = handshake_->peer().id;
      peer_name_ = handshake_->peer().name;
      send_limit_ = std::min(handshake_->peer().max_frame_bytes, config_->max_frame_bytes);
      SendControl(FrameType::kAuth, std::move(auth));
      return;
    }
    case FrameType::kAuth: {
      const HandshakeFailure f = handshake_->OnPeerAuth(frame.payload);
      if (f != HandshakeFailure::kNone) {
        Refuse(f, f == HandshakeFailure::kWrongKey ? "peer does not know the cluster key"
                                                   : "bad auth");
        return;
      }
      const HandshakeFailure admit = owner_->AdmitPeer(this);
      if (admit != HandshakeFailure::kNone) {
        Refuse(admit, "peer not admitted");
        return;
      }
      admitted_ = true;
      sent_ready_ = true;
      SendControl(FrameType::kReady, std::string());
      return;
    }
    case FrameType::kReady: {
      Ready ready;  // empty in version 1; later versions may add fields
      if (!sent_ready_ || !ready.ParseFromString(frame.payload)) {
        Refuse(HandshakeFailure::kBadHello, "ready out of order");
        return;
      }
      state_ = LinkState::kEstablished;
      up_since_ms_ = NowMs();
      up_since_ = absl::Now();
      last_rx_ms_ = up_since_ms_;
      last_heartbeat_sent_ms_ = 0;
      decoder_.set_max_payload_bytes(config_->max_frame_bytes);
      decoder_.set_read_ahead(true);  // the limit is final: read many frames at once
      decoder_.set_splitter([this](std::string_view first, uint32_t len) {
        return owner_->SplitData(this, first, len);
      });
      config_->counters->handshakes_ok++;
      UpdatePoll();
      owner_->LinkEstablished(this);
      return;
    }
    case FrameType::kGoodbye: {
      std::string reason;
      if (!ParseGoodbye(frame.payload, &reason)) reason = "(unreadable)";
      Close(LinkCloseReason::kHandshakeFailed, "peer refused us: " + reason, false,
            HandshakeFailure::kPeerRefused);
      return;
    }
    default:
      config_->counters->protocol_errors[static_cast<size_t>(ProtocolError::kUnexpectedFrame)]++;
      Refuse(HandshakeFailure::kBadHello,
             std::string(FrameTypeName(frame.type)) + " frame during the handshake");
      return;
  }
}

void Link::HandleHeartbeat(const std::string& payload) {
  Heartbeat hb;
  if (!ParseHeartbeat(payload, &hb)) {
    Fail(ProtocolError::kBadMessage, "bad heartbeat");
    return;
  }
  config_->counters->heartbeats_in++;
  const uint64_t now_us = NowUs();
  peer_hb_time_us_ = hb.send_time_us();
  peer_hb_rx_us_ = now_us;
  if (hb.echo_time_us() != 0 && hb.echo_time_us() <= now_us) {
    const uint64_t elapsed = now_us - hb.echo_time_us();
    if (hb.echo_delay_us() <= elapsed) rtt_us_ = static_cast<int64_t>(elapsed - hb.echo_delay_us());
  }
}

void Link::Tick(uint64_t now_ms) {
  switch (state_) {
    case LinkState::kConnecting:
      if (now_ms - created_ms_ >= config_->connect_timeout_ms) {
        Close(LinkCloseReason::kConnectTimeout, "connect timed out");
      }
      return;
    case LinkState::kHandshake:
      if (now_ms - handshake_started_ms_ >= config_->handshake_timeout_ms) {
        Refuse(HandshakeFailure::kTimeout, "handshake timed out");
      }
      return;
    case LinkState::kEstablished:
      break;
    case LinkState::kClosing:
      return;
  }
  if (frozen_) return;
  if (now_ms - last_rx_ms_ >= config_->dead_interval_ms) {
    // Bytes waiting in the socket: the peer is alive, and we are the slow
    // one (reading paused, or this loop was busy for a while).
    int pending = 0;
    if (ioctl(fd_, FIONREAD, &pending) == 0 && pending > 0) {
      last_rx_ms_ = now_ms;
    } else {
      Close(LinkCloseReason::kDead, "nothing received within the dead interval");
      return;
    }
  }
  // Heartbeats every interval (a little early rather than late: ticks are
  // coarse).
  const uint64_t slack = config_->heartbeat_interval_ms / 4;
  if (last_heartbeat_sent_ms_ == 0 ||
      now_ms - last_heartbeat_sent_ms_ + slack >= config_->heartbeat_interval_ms) {
    last_heartbeat_sent_ms_ = now_ms;
    Heartbeat hb;
    const uint64_t now_us = NowUs();
    hb.set_send_time_us(now_us);
    if (peer_hb_time_us_ != 0) {
      hb.set_echo_time_us(peer_hb_time_us_);
      hb.set_echo_delay_us(now_us - peer_hb_rx_us_);
    }
    config_->counters->heartbeats_out++;
    SendControl(FrameType::kHeartbeat, hb.SerializeAsString());
  }
}

void Link::SetReadPaused(bool paused) {
  if (read_paused_ == paused) return;
  read_paused_ = paused;
  if (!paused) {
    last_rx_ms_ = NowMs();  // the pause does not count as silence
    // Held frames go to the handler from the loop, not from inside this call.
    if (!held_.empty()) owner_->LinkNeedsService(this);
  }
  UpdatePoll();
}

void Link::SetFrozen(bool frozen) {
  if (frozen_ == frozen) return;
  frozen_ = frozen;
  if (!frozen) {
    last_rx_ms_ = NowMs();
    if (!control_q_.empty() || !data_q_.empty() || !held_.empty()) owner_->LinkNeedsService(this);
  }
  UpdatePoll();
}

bool Link::SendData(DataPayload payload) {
  if (state_ != LinkState::kEstablished || payload.size() > send_limit_) return false;
  Enqueue(FrameType::kData, std::move(payload), true);
  return !closing();  // over the hard cap: the link (and the frame) went
}

void Link::SendControl(FrameType type, std::string payload) {
  if (state_ != LinkState::kHandshake && state_ != LinkState::kEstablished) return;
  assert(type != FrameType::kData);
  Enqueue(type, std::move(payload), false);
}

void Link::Enqueue(FrameType type, DataPayload payload, bool data) {
  const bool was_empty = control_q_.empty() && data_q_.empty();
  std::deque<OutFrame>& q = data ? data_q_ : control_q_;
  q.emplace_back();
  OutFrame& f = q.back();
  f.payload = std::move(payload);
  EncodeFrameHeader(type, static_cast<uint32_t>(f.payload.size()), f.header);
  queued_bytes_ += f.size();
  if (queued_bytes_ > 2 * config_->max_queued_bytes) {
    Close(LinkCloseReason::kOverflow, "unsent data over twice max_link_queued_bytes");
    return;
  }
  if (queued_bytes_ > config_->max_queued_bytes) congested_ = true;
  if (was_empty) owner_->LinkNeedsService(this);
}

void Link::Flush() {
  if (state_ == LinkState::kConnecting || state_ == LinkState::kClosing || frozen_) return;
  for (int round = 0; round < kMaxWritesPerFlush; round++) {
    if (control_q_.empty() && data_q_.empty()) break;
    // The iovecs, in send order: the frame partly written, then control
    // frames, then DATA frames.
    struct iovec iov[kMaxIovPerWrite];
    int cnt = 0;
    auto add = [&](const OutFrame& f, size_t offset) {
      const std::string_view pieces[] = {{f.header, kFrameHeaderBytes}, f.payload.head,
                                         f.payload.mid, f.payload.tail};
      for (std::string_view piece : pieces) {
        if (offset >= piece.size()) {  // written already, or empty
          offset -= piece.size();
          continue;
        }
        iov[cnt].iov_base = const_cast<char*>(piece.data() + offset);
        iov[cnt].iov_len = piece.size() - offset;
        cnt++;
        offset = 0;
      }
    };
    size_t skip_control = 0, skip_data = 0;
    if (head_started_) {
      add(head_is_data_ ? data_q_.front() : control_q_.front(), head_offset_);
      (head_is_data_ ? skip_data : skip_control) = 1;
    }
    for (size_t i = skip_control; i < control_q_.size() && cnt + 4 <= kMaxIovPerWrite; i++) {
      add(control_q_[i], 0);
    }
    for (size_t i = skip_data; i < data_q_.size() && cnt + 4 <= kMaxIovPerWrite; i++) {
      add(data_q_[i], 0);
    }
    struct msghdr mh = {};
    mh.msg_iov = iov;
    mh.msg_iovlen = static_cast<size_t>(cnt);
    const ssize_t n = sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!want_writable_) {
          want_writable_ = true;
          UpdatePoll();
        }
        return;
      }
      CloseForErrno(errno, "write");
      return;
    }
    bytes_out_ += static_cast<uint64_t>(n);
    Advance(static_cast<size_t>(n));
  }
  // Bounded work per flush: if more is queued, the poll says when to go on
  // (at once, if the socket can take more).
  const bool more = !control_q_.empty() || !data_q_.empty();
  if (want_writable_ != more) {
    want_writable_ = more;
    UpdatePoll();
  }
}

void Link::Advance(size_t n) {
  queued_bytes_ -= n;
  while (n > 0) {
    bool data;
    if (head_started_) {
      data = head_is_data_;
    } else {
      data = control_q_.empty();
    }
    std::deque<OutFrame>& q = data ? data_q_ : control_q_;
    assert(!q.empty());
    const size_t rest = q.front().size() - (head_started_ ? head_offset_ : 0);
    if (n >= rest) {
      n -= rest;
      q.pop_front();
      head_started_ = false;
      head_offset_ = 0;
      frames_out_++;
    } else {
      head_offset_ = (head_started_ ? head_offset_ : 0) + n;
      head_started_ = true;
      head_is_data_ = data;
      n = 0;
    }
  }
  if (congested_ && queued_bytes_ < config_->max_queued_bytes / 2) {
    congested_ = false;
    owner_->LinkDrained(this);
  }
}

void Link::CloseForErrno(int err, const char* what) {
  // A reset or broken pipe is the peer going away, not our I/O failing.
  const bool gone = err == ECONNRESET || err == EPIPE || err == ECONNABORTED;
  Close(gone ? LinkCloseReason::kPeerClosed : LinkCloseReason::kIoError,
        std::string(what) + ": " + strerror(err));
}

void Link::Refuse(HandshakeFailure failure, std::string_view detail) {
  Close(LinkCloseReason::kHandshakeFailed, detail, true, failure);
}

void Link::Fail(ProtocolError error, std::string_view detail) {
  if (state_ == LinkState::kHandshake) {
    config_->counters->protocol_errors[static_cast<size_t>(error)]++;
    Close(LinkCloseReason::kHandshakeFailed, detail, true, HandshakeFailure::kBadHello);
    return;
  }
  Close(LinkCloseReason::kProtocolError, detail, true, HandshakeFailure::kNone, error);
}

void Link::Close(LinkCloseReason reason, std::string_view detail, bool say_goodbye,
                 HandshakeFailure failure, ProtocolError error) {
  if (state_ == LinkState::kClosing || in_close_) return;
  in_close_ = true;  // the goodbye's write below must not close us again
  const LinkState was = state_;
  MeshCounters& c = *config_->counters;
  c.links_closed[static_cast<size_t>(reason)]++;
  if (error != ProtocolError::kNone) c.protocol_errors[static_cast<size_t>(error)]++;
  if (was == LinkState::kConnecting) {
    c.dial_failures++;
  } else if (was == LinkState::kHandshake) {
    // Every connection that fails its handshake counts once, by reason.
    HandshakeFailure f = failure;
    if (f == HandshakeFailure::kNone) {
      f = reason == LinkCloseReason::kStopped ? HandshakeFailure::kNone
                                              : HandshakeFailure::kPeerClosed;
    }
    if (f != HandshakeFailure::kNone) c.handshakes_failed[static_cast<size_t>(f)]++;
  }
  close_reason_ = reason;
  close_detail_ = std::string(detail);
  if (failure != HandshakeFailure::kNone) {
    close_detail_ = std::string(HandshakeFailureName(failure)) + ": " + close_detail_;
  } else if (error != ProtocolError::kNone) {
    close_detail_ = std::string(ProtocolErrorName(error)) + ": " + close_detail_;
  }

  // Last words, best effort: one write attempt, after whatever is queued.
  if (say_goodbye && was != LinkState::kConnecting && !frozen_) {
    std::string why = failure != HandshakeFailure::kNone ? HandshakeFailureName(failure)
                      : error != ProtocolError::kNone    ? ProtocolErrorName(error)
                                                         : LinkCloseReasonName(reason);
    control_q_.emplace_back();
    OutFrame& f = control_q_.back();
    f.payload = EncodeGoodbye(why);
    EncodeFrameHeader(FrameType::kGoodbye, static_cast<uint32_t>(f.payload.size()), f.header);
    queued_bytes_ += f.size();
    Flush();
  }
  state_ = LinkState::kClosing;

  const bool quiet = reason == LinkCloseReason::kStopped;
  const common::LogLevel level =
      quiet ? common::LogLevel::kDebug
      : (was == LinkState::kEstablished && reason == LinkCloseReason::kPeerClosed)
          ? common::LogLevel::kInfo
          : common::LogLevel::kWarn;
  uint64_t suppressed = 0;
  // Links that never came up can be anyone's doing: rate limited.
  if (common::LogEnabled(level) &&
      (was == LinkState::kEstablished || config_->stranger_log == nullptr ||
       config_->stranger_log->Allow(NowMs(), &suppressed))) {
    common::Log log(level, "mesh", was == LinkState::kEstablished ? "link down" : "connection closed");
    log.Kv("link", id_)
        .Kv("peer", peer_name_)
        .Kv("peer_id", common::Hex(peer_id_))
        .Kv("remote", remote_address_)
        .Kv("dialed", dialed_)
        .Kv("state", LinkStateName(was))
        .Kv("reason", LinkCloseReasonName(reason))
        .Kv("detail", close_detail_);
    if (suppressed > 0) log.Kv("suppressed", suppressed);
  }

  // Unsent frames are dropped (the session layer treats a lost link as
  // losing what was in flight on it).
  const uint64_t frames = control_q_.size() + data_q_.size();
  if (frames > 0) {
    c.frames_dropped += frames;
    c.bytes_dropped += queued_bytes_;
  }
  control_q_.clear();
  data_q_.clear();
  held_.clear();
  queued_bytes_ = 0;
  head_started_ = false;
  congested_ = false;
  shutdown(fd_, SHUT_RDWR);  // the peer sees the end now, not when the handle goes
  owner_->LinkClosing(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
    auto* link = static_cast<Link*>(h->data);
    link->owner_->LinkReleased(link);
  });
}

LinkInfo Link::Info() const {
  LinkInfo i;
  i.id = id_;
  i.peer_id = peer_id_;
  i.peer_name = peer_name_;
  i.local_address = local_address_;
  i.remote_address = remote_address_;
  i.state = state_;
  i.dialed = dialed_;
  i.rtt = absl::Microseconds(rtt_us_);
  i.bytes_in = bytes_in_;
  i.bytes_out = bytes_out_;
  i.frames_in = frames_in_;
  i.frames_out = frames_out_;
  i.queued_bytes = queued_bytes_;
  i.congested = congested_;
  i.read_paused = read_paused_;
  i.peer_key_accepted = handshake_ != nullptr && handshake_->peer_proved_accepted_key();
  i.created = created_;
  i.up_since = up_since_;
  return i;
}

}  // namespace mesh
}  // namespace meshd
