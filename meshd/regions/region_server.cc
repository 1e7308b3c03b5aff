#include "meshd/regions/region_server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "meshd/regions/region_pages.h"

namespace meshd {

using libsyslink::DeferredDma;
using libsyslink::Link;
using libsyslink::ctl::Message;
using libsyslink::ctl::Op;
namespace region = libsyslink::region;

namespace {

// Commands read from one session per callback, before others get a turn.
constexpr int kReadBatch = 64;

}  // namespace

struct RegionServer::Session {
  uint64_t sessid = 0;
  std::shared_ptr<Link> link;
  uv_poll_t* poll = nullptr;
  int poll_events = 0;
  // A reply the socket had no room for; reading waits until it is sent.
  bool waiting = false;
  region::Request req;
  sl_proto_t proto = 0;
  sl_cmd_t cmd = 0;
  int err = 0;
  uint32_t length = 0;  // a read's bytes
};

RegionServer::RegionServer(uv_loop_t* loop, Broker* broker, RegionTable* table,
                           libsyslink::SfBufCache* sfbuf, TimerFactory timers)
    : loop_(loop), broker_(broker), table_(table), sfbuf_(sfbuf), timers_(std::move(timers)) {}

RegionServer::~RegionServer() { Stop(); }

pid_t RegionServer::pid() const { return getpid(); }
uid_t RegionServer::uid() const { return getuid(); }

bool RegionServer::Start() {
  broker_->SetRegions(this);
  return broker_->RegisterBuiltin(region::kService, this) == 0;
}

void RegionServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<uint64_t> ids;
  for (const auto& [id, s] : sessions_) ids.push_back(id);
  for (uint64_t id : ids) CloseSession(sessions_[id].get(), ECONNABORTED);
  deferred_.clear();
}

void RegionServer::Defer(std::function<void()> fn) {
  auto t = timers_();
  Timer* raw = t.get();
  deferred_.push_back(std::move(t));
  raw->Start(0, [this, raw, fn = std::move(fn)] {
    fn();
    for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
      if (it->get() == raw) {
        deferred_.erase(it);  // (a UvTimer may die in its own callback)
        break;
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Registrations

void RegionServer::OnRegionRequest(Client* c, const Message& m, common::UniqueFd fd) {
  Message reply = libsyslink::ctl::ReplyTo(m, 0);
  if (m.op == Op::kRegionRegister) {
    struct syslink_region_key key;
    int err = broker_->draining() ? EAGAIN : 0;
    if (err == 0) {
      err = table_->Register(c, c->pid(), c->uid(), std::move(fd), m.offset, m.length, m.access,
                             &key);
    }
    reply.error = err;
    if (err == 0) {
      reply.node_id = key.node;
      reply.slot = key.slot;
      reply.generation = key.generation;
      reply.secret = key.secret;
      common::Log(common::LogLevel::kDebug, "regions", "registered")
          .Kv("slot", key.slot)
          .Kv("generation", key.generation)
          .Kv("bytes", m.length)
          .Kv("pid", c->pid());
    } else {
      common::Log(common::LogLevel::kDebug, "regions", "register refused")
          .Kv("pid", c->pid())
          .Kv("bytes", m.length)
          .Kv("error", strerror(err));
    }
  } else {
    reply.error = table_->Deregister(c, m.slot, m.generation, m.secret);
  }
  c->Send(reply);
}

void RegionServer::ClientGone(Client* c) {
  const size_t n = table_->DropOwner(c);
  if (n > 0) {
    common::Log(common::LogLevel::kDebug, "regions", "owner gone")
        .Kv("pid", c->pid())
        .Kv("regions", n);
  }
}

// ---------------------------------------------------------------------------
// Sessions

void RegionServer::Send(const Message& m, int pass_fd) {
  if (stopped_) return;
  if (m.reply) {
    if (m.op == Op::kListen && m.error != 0) {
      common::Log(common::LogLevel::kError, "regions", "service refused by the broker")
          .Kv("error", strerror(m.error));
    }
    return;  // acknowledgements of what we told the broker
  }
  if (m.op != Op::kSessionOpen) return;
  // The descriptor is the Broker's until Send returns: take a copy.
  common::UniqueFd fd(pass_fd >= 0 ? fcntl(pass_fd, F_DUPFD_CLOEXEC, 0) : -1);
  Message ack = libsyslink::ctl::ReplyTo(m, fd.ok() ? 0 : EMFILE);
  if (fd.ok()) OpenSession(m, std::move(fd));
  Defer([this, ack] { broker_->OnRequest(this, ack, common::UniqueFd()); });
}

void RegionServer::OpenSession(const Message& open, common::UniqueFd fd) {
  const int raw = fd.release();
  fcntl(raw, F_SETFL, O_NONBLOCK);
  Link::Options opts;
  opts.sessid = open.sessid;
  opts.defer_dma = true;
  auto s = std::make_unique<Session>();
  s->sessid = open.sessid;
  s->link = std::make_shared<Link>(raw, opts);
  s->poll = new uv_poll_t;
  uv_poll_init(loop_, s->poll, raw);
  s->poll->data = new PollData{this, open.sessid};
  Session* p = s.get();
  auto old = sessions_.find(open.sessid);
  if (old != sessions_.end()) CloseSession(old->second.get(), ECONNRESET);  // (never: unique)
  sessions_[open.sessid] = std::move(s);
  counters_.sessions_opened++;
  UpdatePoll(p);
}

void RegionServer::UpdatePoll(Session* s) {
  const int events = s->waiting ? UV_WRITABLE : UV_READABLE | UV_DISCONNECT;
  if (events == s->poll_events) return;
  s->poll_events = events;
  uv_poll_start(s->poll, events, OnEvent);
}

void RegionServer::OnEvent(uv_poll_t* h, int status, int events) {
  auto* pd = static_cast<PollData*>(h->data);
  RegionServer* self = pd->server;
  auto it = self->sessions_.find(pd->sessid);
  if (it == self->sessions_.end()) return;
  Session* s = it->second.get();
  if (status < 0) {
    self->CloseSession(s, ECONNRESET);
    return;
  }
  if (s->waiting && (events & UV_WRITABLE)) {
    RegionTable::Region* r = nullptr;
    int err = s->err;
    if (err == 0 && s->req.op == region::Op::kRead) {
      // Read the region as it is now: it may have gone meanwhile.
      r = self->table_->Check(s->req.key, SL_REGION_READ, s->req.offset, s->length, &err,
                              /*count=*/false);
    }
    const ssize_t w = self->Reply(s, s->req, s->proto, s->cmd, err, r, s->length);
    if (w == -EAGAIN) return;
    s->waiting = false;
    if (w < 0 && w != -ENOENT) {
      self->CloseSession(s, ECONNRESET);
      return;
    }
    self->UpdatePoll(s);
  }
  if (!s->waiting) self->ReadSession(s);
}

void RegionServer::ReadSession(Session* s) {
  for (int i = 0; i < kReadBatch && !s->waiting; i++) {
    alignas(8) unsigned char msg[SL_MAXSIZE];
    struct iovec iov = {msg, sizeof msg};
    const ssize_t r = s->link->ReadWithFlags(&iov, 1, MSG_DONTWAIT);
    if (r == -EAGAIN) return;
    if (r <= 0) {
      // End-of-file (the peer closed or died), or a broken socket. What it
      // had asked for is moot: nothing here is half done.
      CloseSession(s, ECONNRESET);
      return;
    }
    const uint32_t room = libsyslink::ThreadDmarRoom();
    // (Only commands arrive: we send none, so the Link drops any reply.)
    DeferredDma data = libsyslink::TakeDeferredDma();
    if (!Serve(s, msg, static_cast<size_t>(r), room, std::move(data))) {
      s->waiting = true;
      UpdatePoll(s);
      return;
    }
  }
}

bool RegionServer::Serve(Session* s, const unsigned char* msg, size_t len, uint32_t dmar_room,
                         DeferredDma data) {
  struct syslink_msg h;
  memcpy(&h, msg, sizeof h);
  region::Request req;
  int err = region::DecodeRequest(msg, len, &req);
  uint32_t length = 0;
  RegionTable::Region* r = nullptr;
  counters_.ops++;
  if (err != 0) {
    table_->CountMalformed();
    req.msgid = h.sm_msgid;
  } else if (req.op == region::Op::kRead) {
    length = dmar_room;
    r = table_->Check(req.key, SL_REGION_READ, req.offset, length, &err);
  } else {
    const size_t bytes = data.bytes();
    r = table_->Check(req.key, SL_REGION_WRITE, req.offset, bytes, &err);
    if (r != nullptr && bytes > 0) {
      RegionPages pages;
      err = pages.Map(sfbuf_, *r, req.offset, bytes);
      if (err == 0) {
        err = data.CopyTo(pages.iov(), pages.count());
        if (err == 0) counters_.dma_bytes_copied += bytes;
      } else {
        counters_.sfbuf_failures++;
      }
    }
    r = nullptr;  // no reply data
  }
  if (err != 0) counters_.ops_failed++;
  const ssize_t w = Reply(s, req, h.sm_proto, h.sm_head.se_cmd, err, r, length);
  if (w == -EAGAIN) {
    s->req = req;
    s->proto = h.sm_proto;
    s->cmd = h.sm_head.se_cmd;
    s->err = err;
    s->length = length;
    return false;
  }
  return true;  // (other failures: the peer is gone; the next read sees it)
}

ssize_t RegionServer::Reply(Session* s, const region::Request& req, sl_proto_t proto,
                            sl_cmd_t cmd, int err, RegionTable::Region* r, uint32_t length) {
  RegionPages pages;
  if (err == 0 && r != nullptr && length > 0) {
    err = pages.Map(sfbuf_, *r, req.offset, length);
    if (err != 0) counters_.sfbuf_failures++;
  }
  struct syslink_msg rep = {};
  struct syslink_msg cmdh = {};
  cmdh.sm_proto = proto;
  cmdh.sm_msgid = req.msgid;
  cmdh.sm_head.se_cmd = cmd;
  sl_msg_init_reply(&cmdh, &rep, err);
  rep.sm_head.se_cmd &= static_cast<sl_cmd_t>(~SE_CMDF_STRUCTURED);  // no elements
  sl_msg_fini(&rep);
  const struct iovec iov0 = {&rep, SL_MSG_ALIGN(rep.sm_bytes)};
  const bool with_data = err == 0 && r != nullptr && length > 0;
  const ssize_t w =
      s->link->WriteReplyGather(iov0, with_data ? pages.iov() : nullptr, with_data ? pages.count() : 0);
  if (w >= 0 && with_data) counters_.dma_bytes_copied += length;
  return w;
}

void RegionServer::CloseSession(Session* s, int why) {
  const uint64_t sessid = s->sessid;
  if (s->poll != nullptr) {
    uv_poll_stop(s->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(s->poll), [](uv_handle_t* h) {
      delete static_cast<PollData*>(h->data);
      delete reinterpret_cast<uv_poll_t*>(h);
    });
    s->poll = nullptr;
  }
  s->link->Shutdown();
  counters_.sessions_closed++;
  sessions_.erase(sessid);  // closes the socket: the peer sees end-of-file
  if (stopped_) return;
  Message ended;
  ended.op = Op::kSessionEnded;
  ended.sessid = sessid;
  ended.why = why;
  Defer([this, ended] { broker_->OnRequest(this, ended, common::UniqueFd()); });
}

}  // namespace meshd
