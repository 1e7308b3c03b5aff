#include "meshd/relay/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "common/byte_buffers.h"
#include "common/log.h"
#include "libsyslink/dma.h"

namespace meshd {

using libsyslink::Link;
using libsyslink::ctl::Kind;
using libsyslink::ctl::Message;
using libsyslink::ctl::Op;

namespace {

constexpr int kDefaultOpenTimeoutMs = 10000;
// meshd's own Links: the window bounds what is in flight, not these.
constexpr size_t kLinkQuota = 16u << 20;
constexpr size_t kLinkDmaQuota = 256u << 20;
// DMAW data at least this large goes to the mesh socket straight from the
// local process's shared buffer; smaller data is copied into the frame (a
// copy that costs less than the extra iovec and the reference held).
constexpr size_t kMoveFrameMin = 16384;
// Credit for delivered messages rides back on the next MSG this edge sends
// (a reply, usually within microseconds); a CREDIT frame carries what is
// still owed after this long, or at once past a quarter of the window.
constexpr uint64_t kCreditDelayMs = 1;
// Large DMA data arriving for the local process lands in a slot of a ring
// shared with it (a syslink_dma_alloc() buffer: its memfd crosses the
// socket once), instead of a new pipe per message: read there straight
// from the mesh socket (the decoder's split), or else copied there. A slot
// is reused once the command's reply came back; a ring left unused this
// long is given back. The ring has room for what the session's window lets
// arrive (2 MiB, the default: 16 slots, for 15 commands of 128 KiB with
// their framing), at least kHomeSlots and at most kMaxRingSlots (a larger
// window's excess goes by pipe). The home slots go round robin, the rest
// only while those are all taken, so a client keeping up to 8 in flight
// sees the same slots whatever the window. The ring is a memfd: slots
// never used take no memory.
constexpr int kHomeSlots = 8;
constexpr int kMaxRingSlots = 32;
constexpr uint64_t kRingIdleMs = 1000;

int RingSlotsFor(uint64_t window) {
  return static_cast<int>(std::clamp<uint64_t>(window / SL_DMA_MAX, kHomeSlots, kMaxRingSlots));
}

// Slots of SL_DMA_MAX bytes in one shared buffer.
class DmaRing {
 public:
  explicit DmaRing(int slots)
      : slots_(slots),
        base_(static_cast<char*>(
            libsyslink::DmaBuffers::Get().Alloc(static_cast<size_t>(slots) * SL_DMA_MAX))),
        free_(AllFree(slots)) {
    assert(slots >= kHomeSlots && slots <= kMaxRingSlots);
  }
  ~DmaRing() {
    if (base_ != nullptr) libsyslink::DmaBuffers::Get().Free(base_);
  }
  DmaRing(const DmaRing&) = delete;
  DmaRing& operator=(const DmaRing&) = delete;

  bool ok() const { return base_ != nullptr; }
  // A free slot's index, or -1. Round robin among the home slots from the
  // one after the last taken: while replies come in order, command k lands
  // in slot k % 8, so a process in map mode reading into a ring of its own
  // that deep finds the same slot behind the same buffer each time (its
  // view stays; no remapping per command). With every home slot taken, the
  // lowest free one of the others.
  int Take() {
    for (int n = 0; n < kHomeSlots; n++) {
      const int i = (next_ + n) % kHomeSlots;
      if (free_ & (1u << i)) {
        free_ &= ~(1u << i);
        next_ = (i + 1) % kHomeSlots;
        return i;
      }
    }
    for (int i = kHomeSlots; i < slots_; i++) {
      if (free_ & (1u << i)) {
        free_ &= ~(1u << i);
        return i;
      }
    }
    return -1;
  }
  void Give(int i) { free_ |= 1u << i; }
  bool idle() const { return free_ == AllFree(slots_); }
  char* slot(int i) const { return base_ + static_cast<size_t>(i) * SL_DMA_MAX; }

 private:
  static_assert(kHomeSlots <= kMaxRingSlots && kMaxRingSlots <= 32, "slots are bits of free_");
  static uint32_t AllFree(int slots) { return slots == 32 ? ~uint32_t{0} : (1u << slots) - 1; }
  const int slots_;
  char* const base_;
  uint32_t free_;
  int next_ = 0;
};

// A taken slot, given back when the last reference goes: the frame read
// into it, then the command's entry in Edge::ring_slots until its reply.
struct RingSlot {
  RingSlot(std::shared_ptr<DmaRing> r, int i) : ring(std::move(r)), index(i) {}
  ~RingSlot() { ring->Give(index); }
  RingSlot(const RingSlot&) = delete;
  RingSlot& operator=(const RingSlot&) = delete;
  char* data() const { return ring->slot(index); }
  const std::shared_ptr<DmaRing> ring;
  const int index;
};

struct PollData {
  Relay* relay;
  uint64_t sessid;
};

// A MSG frame for message M with DMA data DMA: large data is sent from
// where it is (OWNER keeps it there until written), small data is copied
// into the frame (counted in *COPIED).
mesh::DataPayload MsgFrame(uint64_t sessid, uint8_t flags, std::string_view m,
                           std::string_view dma, std::shared_ptr<const void> owner,
                           uint32_t room, uint32_t credit, size_t* copied) {
  if (dma.size() < kMoveFrameMin) {
    *copied += dma.size();
    return EncodeMsg(sessid, flags, m, dma, room, credit);
  }
  return mesh::DataPayload(
      EncodeMsgHead(sessid, flags, m.size(), static_cast<uint32_t>(dma.size()), room, credit),
      dma, std::move(owner), std::string(m));
}

struct syslink_msg Header(std::string_view msg) {
  struct syslink_msg h = {};
  memcpy(&h, msg.data(), std::min(msg.size(), sizeof h));
  return h;
}

}  // namespace

struct Relay::Edge {
  enum class State { kOpening, kOpen, kClosing };

  uint64_t sessid = 0;
  bool client_side = false;
  uint64_t far_node = 0;
  std::string far_name;
  std::string service;
  uint64_t link = 0;
  State state = State::kOpening;
  std::shared_ptr<Link> local;
  uv_poll_t* poll = nullptr;
  int poll_events = 0;
  // A client edge while opening.
  Client* client = nullptr;
  uint64_t client_msgid = 0;
  common::UniqueFd client_end;
  common::UniqueFd meshd_end;
  std::unique_ptr<Timer> timer;
  // Flow control. Each node's window is what it sends and what it takes;
  // the client edge's travels in the OPEN, and the service edge sends the
  // smaller of the two and takes what the client edge sends.
  uint64_t send_window = 0;  // how far window_used may go
  uint64_t recv_window = 0;  // what the far edge may have in flight to us
  uint64_t window_used = 0;  // sent toward the far edge, not yet credited
  uint64_t to_credit = 0;    // delivered locally, not yet credited back
  std::unique_ptr<Timer> credit_timer;  // sends to_credit if no MSG took it
  bool credit_armed = false;
  uint64_t credit_armed_msgs = 0;  // msgs_out when it was armed
  bool read_blocked = false;
  uint64_t single_reads = 0;  // wake-ups in a row that found one message
  bool want_write = false;
  std::deque<Inbound> to_local;
  size_t to_local_bytes = 0;
  // Commands we wrote into the local socket with DMAR: where the reply's
  // data lands (a frame, so it travels on without another copy).
  absl::flat_hash_map<uint64_t, std::string> reply_frames;
  // ... or, for large DMAR room, a ring slot the process writes the reply's
  // data into in place (sent from there).
  struct ReplySlot {
    std::shared_ptr<void> slot;
    char* where;
  };
  absl::flat_hash_map<uint64_t, ReplySlot> reply_slots;
  // Commands we wrote into the local socket with their data in a ring
  // slot: msgid -> slot, given back at the reply.
  std::shared_ptr<DmaRing> ring;
  absl::flat_hash_map<uint64_t, std::shared_ptr<void>> ring_slots;  // RingSlots
  std::unique_ptr<Timer> ring_timer;  // gives an idle ring back
  int close_why = 0;
  uint64_t msgs_in = 0, msgs_out = 0;

  // The direction flag of frames this edge sends.
  uint8_t out_flags() const { return client_side ? 0 : kToClient; }
};

Relay::Relay(uv_loop_t* loop, Options options, MeshPort* mesh, Broker* broker,
             TimerFactory timers)
    : loop_(loop), options_(options), mesh_(mesh), broker_(broker), timers_(std::move(timers)) {}

Relay::~Relay() {
  for (auto& [id, e] : edges_) {
    if (e->poll != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(e->poll), [](uv_handle_t* h) {
        delete static_cast<PollData*>(h->data);
        delete reinterpret_cast<uv_poll_t*>(h);
      });
    }
  }
}

bool Relay::SendOn(uint64_t link, mesh::DataPayload payload) {
  if (!mesh_->SendData(link, std::move(payload))) return false;
  counters_.frames_out++;
  return true;
}

// ---------------------------------------------------------------------------
// Opening

void Relay::Connect(Client* c, const Message& m, uint64_t sessid) {
  counters_.opens++;
  auto refuse = [&](int err) {
    counters_.opens_failed++;
    c->Send(libsyslink::ctl::ReplyTo(m, err));
  };
  if (shutting_down_ || draining_ || session_count() >= options_.max_sessions) {
    return refuse(EAGAIN);
  }
  // By id (region operations know their node by id) or by name.
  const std::optional<uint64_t> node =
      m.node_id != 0 ? std::optional<uint64_t>(m.node_id) : mesh_->Resolve(m.node);
  if (!node.has_value() || *node == mesh_->self_id()) return refuse(EHOSTUNREACH);
  const uint64_t link = mesh_->NextHop(*node);
  if (link == 0) return refuse(EHOSTUNREACH);
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return refuse(EAGAIN);
  auto e = std::make_unique<Edge>();
  e->sessid = sessid;
  e->client_side = true;
  e->far_node = *node;
  e->far_name = m.node_id != 0 ? mesh_->NameOf(m.node_id) : m.node;
  e->service = m.service;
  e->link = link;
  e->client = c;
  e->client_msgid = m.msgid;
  e->send_window = e->recv_window = options_.window_bytes;
  e->meshd_end.reset(pair[0]);
  e->client_end.reset(pair[1]);
  const int timeout = !m.has_timeout || m.timeout_ms == 0 ? kDefaultOpenTimeoutMs : m.timeout_ms;
  if (timeout > 0) {
    e->timer = timers_();
    e->timer->Start(static_cast<uint64_t>(timeout), [this, sessid] {
      auto it = edges_.find(sessid);
      if (it == edges_.end() || it->second->state != Edge::State::kOpening) return;
      // Clean up whatever was built on the way (and the far edge, if any).
      SendOn(it->second->link, EncodeControl(RelayType::kClose, sessid, ETIMEDOUT));
      FailOpen(it->second.get(), ETIMEDOUT);
    });
  }
  relay::RelayOpen open;
  open.set_src_node(mesh_->self_id());
  open.set_src_name(mesh_->self_name());
  open.set_dst_node(*node);
  open.set_service(m.service);
  open.set_timeout_ms(timeout);
  open.set_window_bytes(options_.window_bytes);
  open.set_client_pid(c->pid());
  open.set_client_uid(static_cast<int32_t>(c->uid()));
  Edge* raw = e.get();
  edges_.emplace(sessid, std::move(e));
  if (!SendOn(link, EncodeOpen(sessid, open))) FailOpen(raw, EHOSTUNREACH);
}

void Relay::FailOpen(Edge* e, int error) {
  counters_.opens_failed++;
  if (e->client != nullptr) {
    Message m;
    m.op = Op::kConnect;
    m.msgid = e->client_msgid;
    e->client->Send(libsyslink::ctl::ReplyTo(m, error));
  }
  Destroy(e);
}

void Relay::ClientGone(Client* c) {
  std::vector<uint64_t> gone;
  for (auto& [id, e] : edges_) {
    if (e->state == Edge::State::kOpening && e->client == c) gone.push_back(id);
  }
  for (uint64_t id : gone) {
    Edge* e = edges_[id].get();
    SendOn(e->link, EncodeControl(RelayType::kClose, id, ECONNRESET));
    Destroy(e);
  }
}

void Relay::OnOpen(uint64_t link, RelayFrame& f, std::string payload) {
  const uint64_t sessid = f.sessid;
  relay::RelayOpen& o = f.open;
  auto answer = [&](int err) { SendOn(link, EncodeControl(RelayType::kOpenReply, sessid, err)); };
  if (edges_.contains(sessid) || transits_.contains(sessid)) return answer(EEXIST);
  if (shutting_down_ || draining_ || session_count() >= options_.max_sessions) {
    return answer(EAGAIN);
  }
  if (o.dst_node() == mesh_->self_id()) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return answer(EAGAIN);
    auto meshd_end = std::make_shared<common::UniqueFd>(pair[0]);
    const relay::RelayOpen open = o;
    broker_->OpenRelayedSession(
        o.service(), sessid, o.src_name(), o.client_pid(), o.client_uid(), o.timeout_ms(),
        common::UniqueFd(pair[1]), [this, sessid, link, open, meshd_end](int err) {
          ServiceEdgeOpened(sessid, link, open, std::move(*meshd_end), err);
        });
    return;
  }
  // Transit: on toward the service's node.
  const uint64_t next = mesh_->NextHop(o.dst_node());
  if (next == 0 || next == link || o.hops() >= options_.max_hops) return answer(EHOSTUNREACH);
  o.set_hops(o.hops() + 1);
  transits_[sessid] = Transit{link, next};
  if (!SendOn(next, EncodeOpen(sessid, o))) {
    transits_.erase(sessid);
    answer(EHOSTUNREACH);
  }
  (void)payload;
}

void Relay::ServiceEdgeOpened(uint64_t sessid, uint64_t link, const relay::RelayOpen& open,
                              common::UniqueFd meshd_end, int error) {
  counters_.service_opens++;
  if (error != 0 || edges_.contains(sessid)) {
    counters_.service_opens_failed++;
    SendOn(link, EncodeControl(RelayType::kOpenReply, sessid, error != 0 ? error : EEXIST));
    return;
  }
  auto e = std::make_unique<Edge>();
  e->sessid = sessid;
  e->client_side = false;
  e->far_node = open.src_node();
  e->far_name = open.src_name();
  e->service = open.service();
  e->link = link;
  e->send_window = std::min(options_.window_bytes, open.window_bytes());
  e->recv_window = open.window_bytes();
  e->meshd_end = std::move(meshd_end);
  Edge* raw = e.get();
  edges_.emplace(sessid, std::move(e));
  StartLocal(raw);
  if (!SendOn(link, EncodeControl(RelayType::kOpenReply, sessid, 0))) {
    Teardown(raw, EHOSTUNREACH, false);
  }
}

void Relay::OnOpenReply(uint64_t link, const RelayFrame& f, std::string payload) {
  auto eit = edges_.find(f.sessid);
  if (eit != edges_.end()) {
    Edge* e = eit->second.get();
    if (!e->client_side || e->state != Edge::State::kOpening || e->link != link) {
      counters_.bad_frames++;
      return;
    }
    if (f.value != 0) {
      FailOpen(e, static_cast<int>(f.value));
      return;
    }
    if (e->timer != nullptr) e->timer->Cancel();
    Message m;
    m.op = Op::kConnect;
    m.msgid = e->client_msgid;
    Message ok = libsyslink::ctl::ReplyTo(m, 0);
    ok.sessid = e->sessid;
    ok.kind = static_cast<uint32_t>(Kind::kRelayed);
    e->client->Send(ok, e->client_end.get());
    e->client_end.reset();
    e->client = nullptr;
    counters_.opens_ok++;
    common::Log(common::LogLevel::kInfo, "relay", "session opened")
        .Kv("sessid", common::Hex(e->sessid))
        .Kv("service", e->service)
        .Kv("node", e->far_name);
    StartLocal(e);
    return;
  }
  auto tit = transits_.find(f.sessid);
  if (tit != transits_.end() && link == tit->second.toward_service) {
    const uint64_t back = tit->second.toward_client;
    if (f.value != 0) transits_.erase(tit);
    SendOn(back, std::move(payload));
    counters_.frames_forwarded++;
    return;
  }
  counters_.unknown_session++;
}

// ---------------------------------------------------------------------------
// Frames

void Relay::OnData(uint64_t link, uint64_t from_node, std::string payload) {
  Receive(link, from_node, Inbound{std::move(payload), {}});
}

void Relay::Receive(uint64_t link, uint64_t from_node, Inbound in) {
  counters_.frames_in++;
  RelayFrame f;
  const bool split = in.split.len > 0;
  if (split ? in.split.offset != kMsgDmaOffset ||
                  !DecodeRelaySplit(in.payload, std::string_view(in.split.where, in.split.len), &f)
            : !DecodeRelay(in.payload, &f)) {
    counters_.bad_frames++;
    common::Log(common::LogLevel::kWarn, "relay", "malformed relay frame dropped")
        .Kv("link", link)
        .Kv("from_node", common::Hex(from_node))
        .Kv("bytes", in.size());
    return;
  }
  switch (f.type) {  // (only MSG frames are ever split)
    case RelayType::kOpen:
      OnOpen(link, f, std::move(in.payload));
      return;
    case RelayType::kOpenReply:
      OnOpenReply(link, f, std::move(in.payload));
      return;
    default:
      break;
  }
  auto eit = edges_.find(f.sessid);
  if (eit != edges_.end() && eit->second->link == link) {
    OnEdgeFrame(eit->second.get(), f, std::move(in));
    return;
  }
  auto tit = transits_.find(f.sessid);
  if (tit != transits_.end() &&
      (link == tit->second.toward_client || link == tit->second.toward_service)) {
    // Split frames are for edges; should the edge have gone meanwhile and
    // its id come back as a transit, the frame is made whole first.
    if (split) in.payload.insert(in.split.offset, in.split.where, in.split.len);
    Forward(link, tit->second, f, std::move(in.payload));
    return;
  }
  counters_.unknown_session++;
  // A message for a session this node does not know: tell the sender's
  // side to tear it down (never answer a close, to avoid ping-pong).
  if (f.type == RelayType::kMsg) {
    SendOn(link, EncodeControl(RelayType::kClose, f.sessid, EHOSTUNREACH));
  }
}

mesh::PayloadSplit Relay::SplitMsg(uint64_t link, std::string_view first, uint32_t len) {
  uint64_t sessid;
  uint8_t flags;
  uint32_t dma;
  if (!PeekMsg(first, &sessid, &flags, &dma)) return {};
  auto it = edges_.find(sessid);
  if (it == edges_.end()) return {};
  Edge* e = it->second.get();
  if (e->link != link || e->state != Edge::State::kOpen || e->local == nullptr ||
      (flags & kToClient) != (e->client_side ? kToClient : 0) || dma < kMoveFrameMin ||
      dma > SL_DMA_MAX || kMsgDmaOffset + dma > len) {
    return {};
  }
  char* where;
  std::shared_ptr<void> slot = TakeSlot(e, &where);
  if (slot == nullptr) return {};
  return mesh::PayloadSplit{kMsgDmaOffset, dma, where, std::move(slot)};
}

void Relay::OnSplitData(uint64_t link, uint64_t from_node, std::string payload,
                        mesh::PayloadSplit split) {
  Receive(link, from_node, Inbound{std::move(payload), std::move(split)});
}

std::shared_ptr<void> Relay::TakeSlot(Edge* e, char** where) {
  if (e->ring == nullptr) {
    auto ring = std::make_shared<DmaRing>(RingSlotsFor(e->recv_window));
    if (!ring->ok()) return nullptr;
    e->ring = std::move(ring);
  }
  const int i = e->ring->Take();
  if (i < 0) return nullptr;
  auto slot = std::make_shared<RingSlot>(e->ring, i);
  *where = slot->data();
  return slot;
}

void Relay::Forward(uint64_t from_link, Transit& t, const RelayFrame& f, std::string payload) {
  const bool from_client_side = from_link == t.toward_client;
  if ((f.type == RelayType::kMsg || f.type == RelayType::kCredit) &&
      from_client_side == ((f.flags & kToClient) != 0)) {
    counters_.bad_frames++;  // travelling the wrong way
    return;
  }
  const uint64_t to = from_client_side ? t.toward_service : t.toward_client;
  t.frames++;
  if (f.type == RelayType::kClose) transits_.erase(f.sessid);
  counters_.frames_forwarded++;
  if (!SendOn(to, std::move(payload))) return;  // OnLinkDown cleans up
  if (mesh_->Congested(to) && !paused_links_.contains(from_link)) {
    mesh_->PauseRead(from_link);
    paused_links_.insert(from_link);
  }
}

void Relay::OnEdgeFrame(Edge* e, const RelayFrame& f, Inbound payload) {
  const uint8_t expect = e->client_side ? kToClient : 0;  // frames toward us
  switch (f.type) {
    case RelayType::kMsg: {
      if ((f.flags & kToClient) != expect) {
        counters_.bad_frames++;
        return;
      }
      if (e->state != Edge::State::kOpen) return;  // closing: dropped
      // The credit it carries back for what we sent (0: none).
      const bool credited = f.value != 0 && e->window_used > 0;
      e->window_used -= std::min<uint64_t>(e->window_used, f.value);
      e->msgs_in++;
      e->to_local_bytes += payload.size();
      e->to_local.push_back(std::move(payload));
      if (e->to_local_bytes > 2 * e->recv_window + SL_DMA_MAX + SL_MAXSIZE) {
        // The far side ignored the window: it is broken or hostile.
        common::Log(common::LogLevel::kWarn, "relay", "window overrun: session torn down")
            .Kv("sessid", common::Hex(e->sessid))
            .Kv("queued", e->to_local_bytes);
        Teardown(e, ECONNABORTED, true);
        return;
      }
      FlushLocal(e);  // an open edge stays open through FlushLocal
      if (credited && e->read_blocked) ReadLocal(e);
      return;
    }
    case RelayType::kCredit:
      if ((f.flags & kToClient) != expect) {
        counters_.bad_frames++;
        return;
      }
      e->window_used -= std::min<uint64_t>(e->window_used, f.value);
      if (e->read_blocked && e->state == Edge::State::kOpen) ReadLocal(e);
      return;
    case RelayType::kClose:
      if (e->state == Edge::State::kOpening) {
        FailOpen(e, f.value != 0 ? static_cast<int>(f.value) : ECONNREFUSED);
        return;
      }
      Teardown(e, f.value != 0 ? static_cast<int>(f.value) : ECONNRESET, false);
      return;
    default:
      counters_.bad_frames++;
      return;
  }
}

// ---------------------------------------------------------------------------
// The local socket of an edge

void Relay::StartLocal(Edge* e) {
  const int fd = e->meshd_end.release();
  fcntl(fd, F_SETFL, O_NONBLOCK);
  Link::Options opts;
  opts.sessid = e->sessid;
  opts.death_errno = ECONNRESET;
  opts.copy_out = true;
  opts.defer_dma = true;  // DMAW data goes out from where the process put it
  e->local = std::make_shared<Link>(fd, opts);
  e->local->SetQuota(kLinkQuota, kLinkDmaQuota);
  e->state = Edge::State::kOpen;
  e->poll = new uv_poll_t;
  uv_poll_init(loop_, e->poll, fd);
  e->poll->data = new PollData{this, e->sessid};
  UpdatePoll(e);
}

void Relay::UpdatePoll(Edge* e) {
  if (e->poll == nullptr) return;
  int events = 0;
  if (e->state == Edge::State::kOpen && !e->read_blocked) events |= UV_READABLE | UV_DISCONNECT;
  if (e->want_write && e->state != Edge::State::kOpening) events |= UV_WRITABLE;
  if (events == e->poll_events) return;
  e->poll_events = events;
  if (events == 0) {
    uv_poll_stop(e->poll);
  } else {
    uv_poll_start(e->poll, events, OnLocalEvent);
  }
}

void Relay::OnLocalEvent(uv_poll_t* h, int status, int events) {
  auto* pd = static_cast<PollData*>(h->data);
  Relay* self = pd->relay;
  auto it = self->edges_.find(pd->sessid);
  if (it == self->edges_.end()) return;
  Edge* e = it->second.get();
  if (status < 0) events = UV_READABLE;  // let the read find out what happened
  if (events & UV_WRITABLE) self->FlushLocal(e);
  // FlushLocal may have ended the session.
  it = self->edges_.find(pd->sessid);
  if (it == self->edges_.end()) return;
  if (events & (UV_READABLE | UV_DISCONNECT)) self->ReadLocal(it->second.get());
}

void Relay::ReadLocal(Edge* e) {
  // Request/reply traffic brings one message per wake-up: then one read per
  // wake-up (the poll reports the socket again if more came), saving the
  // read that would only say EAGAIN; every 16th wake-up reads on to find
  // out whether messages come in batches again.
  const bool one = e->single_reads > 0 && e->single_reads % 16 != 0;
  int got = 0;
  for (int i = 0; i < 64; i++) {
    if (e->state != Edge::State::kOpen) return;
    if (one && got == 1) break;
    const bool window_full = e->window_used >= e->send_window;
    if (window_full || mesh_->Congested(e->link)) {
      if (!e->read_blocked) {
        if (window_full) {
          counters_.window_waits++;
        } else {
          counters_.congestion_waits++;
        }
      }
      e->read_blocked = true;
      UpdatePoll(e);
      return;
    }
    e->read_blocked = false;
    alignas(8) unsigned char msg[SL_MAXSIZE];
    struct iovec iov = {msg, SL_MAXSIZE};
    // defer_dma: a command's DMAW data stays where the process put it.
    const ssize_t r = e->local->ReadWithFlags(&iov, 1, MSG_DONTWAIT);
    if (r == -EAGAIN) break;
    got++;
    if (r == 0) {
      // The local process is gone; the replies its Link synthesized for
      // our commands went out before this.
      Teardown(e, ECONNRESET, true);
      return;
    }
    if (r < 0) {
      Teardown(e, ECONNABORTED, true);
      return;
    }
    const size_t dma = libsyslink::ThreadDmaBytes();
    const uint32_t room = libsyslink::ThreadDmarRoom();
    const std::string_view m(reinterpret_cast<const char*>(msg), static_cast<size_t>(r));
    const struct syslink_msg h = Header(m);
    // What we delivered and owe the far edge credit for rides along.
    const uint32_t credit = static_cast<uint32_t>(e->to_credit);
    e->to_credit = 0;
    const uint8_t flags = e->out_flags();
    mesh::DataPayload frame{std::string()};
    size_t copied = 0;  // DMA bytes copied here in user space
    if (h.sm_proto & SM_PROTO_REPLY) {
      if (!e->ring_slots.empty()) ReleaseSlot(e, h.sm_msgid);
      auto sit = e->reply_slots.find(h.sm_msgid);
      auto it = sit == e->reply_slots.end() ? e->reply_frames.find(h.sm_msgid)
                                             : e->reply_frames.end();
      if (sit != e->reply_slots.end()) {
        // The process wrote the data into the ring slot: sent from there.
        Edge::ReplySlot rs = std::move(sit->second);
        e->reply_slots.erase(sit);
        frame = MsgFrame(e->sessid, flags, m, std::string_view(rs.where, dma), std::move(rs.slot),
                         0, credit, &copied);
      } else if (it != e->reply_frames.end()) {
        // Its data (if any) is already in this frame.
        frame.head = std::move(it->second);
        e->reply_frames.erase(it);
        FinishMsg(&frame.head, e->sessid, flags, m, static_cast<uint32_t>(dma), 0, credit);
        copied = dma;  // by the Link, into the frame
      } else {
        frame.head = EncodeMsg(e->sessid, flags, m, {}, 0, credit);
      }
    } else if (dma > 0) {
      libsyslink::DeferredDma data = libsyslink::TakeDeferredDma();
      const char* in_place = data.mapped();
      if (in_place != nullptr) {
        // The process's shared buffer goes to the socket as it is: it must
        // stay intact until the reply anyway (SPEC §4).
        frame = MsgFrame(e->sessid, flags, m, std::string_view(in_place, dma), data.mapping(),
                         room, credit, &copied);
      } else {
        // In a pipe (or a one-off copy): read it into the frame.
        frame.head.reserve(kMsgDmaOffset + dma + m.size());
        frame.head.resize(kMsgDmaOffset + dma);
        const struct iovec dst = {frame.head.data() + kMsgDmaOffset, dma};
        if (data.CopyTo(&dst, 1) != 0) {
          common::Log(common::LogLevel::kWarn, "relay",
                      "DMA data not where the local process said: session torn down")
              .Kv("sessid", common::Hex(e->sessid));
          Teardown(e, ECONNABORTED, true);
          return;
        }
        FinishMsg(&frame.head, e->sessid, flags, m, static_cast<uint32_t>(dma), room, credit);
        copied = dma;
      }
    } else {
      frame.head = EncodeMsg(e->sessid, flags, m, {}, room, credit);
    }
    counters_.dma_bytes_copied += copied;
    counters_.dma_bytes_to_mesh += dma;
    counters_.msgs_to_mesh++;
    e->msgs_out++;
    e->window_used += frame.size();
    if (!SendOn(e->link, std::move(frame))) {
      Teardown(e, EHOSTUNREACH, false);
      return;
    }
  }
  e->single_reads = got <= 1 ? e->single_reads + 1 : 0;
  UpdatePoll(e);
}

void Relay::FlushLocal(Edge* e) {
  while (!e->to_local.empty() && e->local != nullptr) {
    Inbound& in = e->to_local.front();
    std::string& payload = in.payload;
    const size_t size = in.size();
    RelayFrame f;
    if (in.split.len > 0) {  // checked on arrival
      DecodeRelaySplit(payload, std::string_view(in.split.where, in.split.len), &f);
    } else {
      DecodeRelay(payload, &f);
    }
    const struct syslink_msg h = Header(f.msg);
    const bool reply = h.sm_proto & SM_PROTO_REPLY;
    const bool dmar = !reply && (h.sm_head.se_cmd & SE_CMDF_DMAR);
    const bool dmaw = !reply && (h.sm_head.se_cmd & SE_CMDF_DMAW);
    struct iovec iov[2] = {{const_cast<char*>(f.msg.data()), f.msg.size()}, {nullptr, 0}};
    int iovcnt = 1;
    std::string landing;  // DMAR: where the reply's data will land
    bool landing_is_payload = false;
    // A ring slot holding the data, kept until the reply (DMAW commands).
    std::shared_ptr<void> slot;
    size_t copied = 0;  // DMA bytes copied here in user space
    char* reply_slot = nullptr;  // DMAR: the landing is a ring slot
    if (dmar && !dmaw && f.dmar_room >= kMoveFrameMin &&
        (slot = TakeSlot(e, &reply_slot)) != nullptr) {
      // The process writes the reply's data straight into the slot.
      iov[1] = {reply_slot, f.dmar_room};
      iovcnt = 2;
    } else if (dmar) {
      if (f.dma_bytes >= f.dmar_room && in.split.len == 0) {
        landing_is_payload = true;  // DMAW|DMAR: reuse this frame's buffer
      } else {
        landing.assign(kMsgDmaOffset + std::max(f.dmar_room, dmaw ? f.dma_bytes : 0), '\0');
        if (dmaw) {
          memcpy(landing.data() + kMsgDmaOffset, f.dma.data(), f.dma_bytes);
          copied += f.dma_bytes;
        }
      }
      char* base = landing_is_payload ? payload.data() : landing.data();
      iov[1] = {base + kMsgDmaOffset, dmaw ? f.dma_bytes : f.dmar_room};
      iovcnt = 2;
    } else if (dmaw || (reply && f.dma_bytes > 0)) {
      iov[1] = {const_cast<char*>(f.dma.data()), f.dma.size()};
      iovcnt = 2;
      if (dmaw && in.split.len > 0) {
        slot = in.split.owner;  // read into the shared ring already
      } else if (dmaw && f.dma_bytes >= kMoveFrameMin) {
        // Into the shared ring (else, if it is full, into a pipe as it is).
        char* where;
        if ((slot = TakeSlot(e, &where)) != nullptr) {
          memcpy(where, f.dma.data(), f.dma.size());
          iov[1].iov_base = where;
          copied = f.dma.size();
        }
      }
    }
    // The Link copies what is not in a shared buffer (once).
    if (iovcnt == 2 && slot == nullptr && (dmaw || reply)) copied += iov[1].iov_len;
    const ssize_t r = e->local->Write(iov, iovcnt);
    if (slot != nullptr && r >= 0) {
      if (reply_slot != nullptr) {
        e->reply_slots[h.sm_msgid] = Edge::ReplySlot{std::move(slot), reply_slot};
      } else {
        e->ring_slots[h.sm_msgid] = std::move(slot);
      }
    }
    if (r == -EAGAIN) {
      e->want_write = true;
      UpdatePoll(e);
      return;
    }
    if (r < 0) {
      if (r == -ENOENT) {
        counters_.late_replies++;
      } else if (r != -EPIPE && r != -EBADF) {
        counters_.refused_messages++;
        common::Log(common::LogLevel::kWarn, "relay", "message from the mesh refused")
            .Kv("sessid", common::Hex(e->sessid))
            .Kv("error", strerror(static_cast<int>(-r)));
      }
    } else {
      counters_.msgs_to_local++;
      const size_t dma = iovcnt == 2 && (dmaw || reply) ? iov[1].iov_len : 0;
      counters_.dma_bytes_to_local += dma;
      counters_.dma_bytes_copied += copied;
      if (dmar && reply_slot == nullptr) {
        e->reply_frames[h.sm_msgid] = landing_is_payload ? std::move(payload) : std::move(landing);
      }
    }
    e->to_local_bytes -= size;
    e->to_credit += size;
    common::GiveBuffer(std::move(payload));  // unless it went on as a landing
    e->to_local.pop_front();  // a slot not kept for a reply is given back
  }
  if (e->want_write) {
    e->want_write = false;
    UpdatePoll(e);
  }
  SendCredit(e, false);
  if (e->state == Edge::State::kClosing && e->to_local.empty()) FinishTeardown(e);
}

void Relay::StartEdgeTimer(Edge* e, std::unique_ptr<Timer>* timer, uint64_t ms,
                           std::function<void(Edge*)> fn) {
  if (*timer == nullptr) *timer = timers_();
  const uint64_t sessid = e->sessid;
  (*timer)->Start(ms, [this, sessid, fn = std::move(fn)] {
    auto it = edges_.find(sessid);
    if (it != edges_.end()) fn(it->second.get());
  });
}

void Relay::ArmCredit(Edge* e) {
  e->credit_armed = true;
  e->credit_armed_msgs = e->msgs_out;
  StartEdgeTimer(e, &e->credit_timer, kCreditDelayMs, [this](Edge* edge) {
    edge->credit_armed = false;
    if (edge->to_credit == 0) return;
    // Messages went out meanwhile, each with the credit owed then: what is
    // owed now is likely to ride on the next one as well.
    if (edge->msgs_out != edge->credit_armed_msgs) return ArmCredit(edge);
    SendCredit(edge, true);
  });
}

void Relay::ReleaseSlot(Edge* e, uint64_t msgid) {
  auto it = e->ring_slots.find(msgid);
  if (it == e->ring_slots.end()) return;
  e->ring_slots.erase(it);  // gives the slot back
  if (e->ring == nullptr || !e->ring->idle()) return;
  StartEdgeTimer(e, &e->ring_timer, kRingIdleMs, [](Edge* edge) {
    if (edge->ring != nullptr && edge->ring->idle()) edge->ring.reset();
  });
}

void Relay::SendCredit(Edge* e, bool now) {
  if (e->to_credit == 0 || e->state == Edge::State::kClosing) return;
  // A quarter of the window the far edge sends within. A service edge knows
  // it (the client's, from the OPEN). A client edge knows only that the far
  // edge's is at most its own and at least kMinWindowBytes (256 KiB), so it
  // credits once a quarter of its own or of 256 KiB is owed, whichever is
  // less: otherwise a service node with a smaller window would fill it and
  // wait, idle, for each credit to cross the mesh (or, with no command
  // going its way to carry the credit, for the credit timer).
  const uint64_t quarter = e->client_side
                               ? std::min<uint64_t>(e->recv_window, kMinWindowBytes) / 4
                               : e->recv_window / 4;
  if (!now && e->to_credit < quarter) {
    // Most likely the next MSG this edge sends takes it along.
    if (!e->credit_armed) ArmCredit(e);
    return;
  }
  // Credit travels toward the far edge, like this edge's own frames.
  SendOn(e->link, EncodeControl(RelayType::kCredit, e->sessid,
                                static_cast<uint32_t>(e->to_credit), e->out_flags()));
  e->to_credit = 0;
}

// ---------------------------------------------------------------------------
// Ending sessions

void Relay::Teardown(Edge* e, int why, bool far) {
  if (e->state == Edge::State::kClosing) return;
  if (e->state == Edge::State::kOpening) {
    if (far) SendOn(e->link, EncodeControl(RelayType::kClose, e->sessid, why));
    FailOpen(e, why);
    return;
  }
  e->state = Edge::State::kClosing;
  e->close_why = why;
  if (far && SendOn(e->link, EncodeControl(RelayType::kClose, e->sessid, why))) {
    counters_.closes_sent++;
  }
  common::Log(common::LogLevel::kInfo, "relay", "session closed")
      .Kv("sessid", common::Hex(e->sessid))
      .Kv("service", e->service)
      .Kv("node", e->far_name)
      .Kv("why", strerror(why));
  UpdatePoll(e);
  if (e->to_local.empty()) {
    FinishTeardown(e);
    return;
  }
  // Let what already arrived reach the local process first (bounded).
  const uint64_t sessid = e->sessid;
  e->timer = timers_();
  e->timer->Start(options_.drain_timeout_ms, [this, sessid] {
    auto it = edges_.find(sessid);
    if (it != edges_.end()) FinishTeardown(it->second.get());
  });
}

void Relay::FinishTeardown(Edge* e) {
  if (e->local != nullptr) {
    // The local library synthesizes a reply with this errno for each of its
    // commands still unanswered.
    e->local->SendGoodbye(e->close_why);
  }
  Destroy(e);
}

void Relay::Destroy(Edge* e) {
  if (e->poll != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(e->poll), [](uv_handle_t* h) {
      delete static_cast<PollData*>(h->data);
      delete reinterpret_cast<uv_poll_t*>(h);
    });
    e->poll = nullptr;
  }
  edges_.erase(e->sessid);  // closes the local socket: the process sees end-of-file
}

void Relay::OnLinkDown(uint64_t link) {
  std::vector<uint64_t> ids;
  for (auto& [id, e] : edges_) {
    if (e->link == link) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = edges_.find(id);
    if (it == edges_.end()) continue;
    counters_.teardowns_link_down++;
    Teardown(it->second.get(), EHOSTUNREACH, false);
  }
  for (auto it = transits_.begin(); it != transits_.end();) {
    const Transit& t = it->second;
    if (t.toward_client == link || t.toward_service == link) {
      const uint64_t other = t.toward_client == link ? t.toward_service : t.toward_client;
      SendOn(other, EncodeControl(RelayType::kClose, it->first, EHOSTUNREACH));
      counters_.teardowns_link_down++;
      transits_.erase(it++);
    } else {
      ++it;
    }
  }
  paused_links_.erase(link);
}

void Relay::OnLinkWritable(uint64_t link) {
  for (uint64_t l : paused_links_) mesh_->ResumeRead(l);
  paused_links_.clear();
  std::vector<uint64_t> ids;
  for (auto& [id, e] : edges_) {
    if (e->link == link && e->read_blocked) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = edges_.find(id);
    if (it != edges_.end()) ReadLocal(it->second.get());
  }
}

void Relay::OnReachability(uint64_t node, bool reachable) {
  if (reachable) return;
  std::vector<uint64_t> ids;
  for (auto& [id, e] : edges_) {
    if (e->far_node == node) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = edges_.find(id);
    if (it == edges_.end()) continue;
    counters_.teardowns_unreachable++;
    Teardown(it->second.get(), EHOSTUNREACH, true);
  }
}

bool Relay::Busy() const {
  for (const auto& [id, e] : edges_) {
    if (e->state != Edge::State::kOpen) continue;
    if (e->window_used > 0 || !e->to_local.empty()) return true;
    struct syslink_stats st;
    e->local->GetStats(&st);
    if (st.outstanding > 0 || st.unreplied > 0) return true;
  }
  return false;
}

void Relay::Shutdown() {
  shutting_down_ = true;
  std::vector<uint64_t> ids;
  for (auto& [id, e] : edges_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = edges_.find(id);
    if (it != edges_.end()) Teardown(it->second.get(), ECONNABORTED, true);
  }
  for (auto& [id, t] : transits_) {
    SendOn(t.toward_client, EncodeControl(RelayType::kClose, id, ECONNABORTED));
    SendOn(t.toward_service, EncodeControl(RelayType::kClose, id, ECONNABORTED));
  }
  transits_.clear();
}

std::vector<Relay::SessionInfo> Relay::Sessions() const {
  std::vector<SessionInfo> out;
  for (const auto& [id, e] : edges_) {
    out.push_back(SessionInfo{id, e->client_side ? "client-edge" : "service-edge", e->service,
                              e->far_name, e->link, e->window_used, e->to_local_bytes,
                              e->msgs_in, e->msgs_out});
  }
  for (const auto& [id, t] : transits_) {
    out.push_back(SessionInfo{id, "transit", "", "", t.toward_service, 0, 0, t.frames,
                              t.frames});
  }
  return out;
}

}  // namespace meshd
