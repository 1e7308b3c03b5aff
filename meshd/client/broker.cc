#include "meshd/client/broker.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"

namespace meshd {

using libsyslink::ctl::Kind;
using libsyslink::ctl::Message;
using libsyslink::ctl::Op;

namespace {

constexpr char kBuiltinPrefix[] = "meshd.";

int64_t UnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Broker::Broker(std::string node_name, Limits limits, TimerFactory timers)
    : node_name_(std::move(node_name)), limits_(limits), timers_(std::move(timers)) {}

Broker::~Broker() = default;

void Broker::Reply(Client* c, const Message& m, int error) {
  c->Send(libsyslink::ctl::ReplyTo(m, error));
}

uint64_t Broker::NewSessid() {
  // Unguessable: 64 random bits. Never small (the library uses small
  // values as internal tags) and never in use.
  for (;;) {
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != sizeof id) abort();  // the kernel's RNG cannot fail here
    id |= uint64_t{1} << 63;
    if (!sessions_.contains(id)) return id;
  }
}

void Broker::OnRequest(Client* c, const Message& m, common::UniqueFd fd) {
  if (m.reply) {
    if (m.op == Op::kSessionOpen) SessionOpenReply(c, m);
    return;  // other replies (to nothing we asked) are ignored
  }
  switch (m.op) {
    case Op::kListen:
      Listen(c, m);
      return;
    case Op::kConnect:
      Connect(c, m);
      return;
    case Op::kSessionEnded:
      SessionEnded(c, m);
      return;
    case Op::kRegionRegister:
    case Op::kRegionDeregister:
      if (regions_ == nullptr) {
        Reply(c, m, EOPNOTSUPP);
      } else {
        regions_->OnRegionRequest(c, m, std::move(fd));
      }
      return;
    case Op::kSessionOpen:
      break;  // only meshd sends these
  }
  counters_.bad_requests++;
  Reply(c, m, EINVAL);
}

void Broker::Listen(Client* c, const Message& m) {
  counters_.listens++;
  int err = 0;
  if (draining_) {
    err = EAGAIN;
  } else if (service_of_.contains(c)) {
    err = EINVAL;  // one service per connection
  } else if (m.service.rfind(kBuiltinPrefix, 0) == 0) {
    err = EACCES;  // meshd's own
  } else if (services_.contains(m.service)) {
    err = EADDRINUSE;
  } else if (services_.size() - builtins_ >= limits_.max_services) {
    err = EAGAIN;
  }
  if (err != 0) {
    counters_.listen_refused++;
    common::Log(common::LogLevel::kInfo, "broker", "listen refused")
        .Kv("service", m.service)
        .Kv("pid", c->pid())
        .Kv("error", strerror(err));
    Reply(c, m, err);
    return;
  }
  services_[m.service] = Service{m.service, c};
  service_of_[c] = m.service;
  common::Log(common::LogLevel::kInfo, "broker", "service registered")
      .Kv("service", m.service)
      .Kv("pid", c->pid())
      .Kv("uid", c->uid());
  Reply(c, m, 0);
}

int Broker::RegisterBuiltin(const std::string& name, Client* c) {
  if (services_.contains(name)) return EADDRINUSE;
  services_[name] = Service{name, c};
  service_of_[c] = name;
  builtins_++;
  return 0;
}

void Broker::Connect(Client* c, const Message& m) {
  counters_.connects++;
  auto refuse = [&](int err, uint64_t* counter) {
    if (counter != nullptr) (*counter)++;
    common::Log(common::LogLevel::kDebug, "broker", "connect refused")
        .Kv("service", m.service)
        .Kv("node", m.node)
        .Kv("pid", c->pid())
        .Kv("error", strerror(err));
    Reply(c, m, err);
  };
  if (draining_) return refuse(EAGAIN, &counters_.connect_limited);
  if (sessions_.size() + pending_.size() >= limits_.max_sessions ||
      sessions_per_pid_[c->pid()] >= limits_.max_sessions_per_client) {
    return refuse(EAGAIN, &counters_.connect_limited);
  }
  const bool here = m.node_id != 0 ? m.node_id == node_id_
                                   : m.node.empty() || m.node == node_name_;
  if (!here) {
    if (remote_ == nullptr) return refuse(EHOSTUNREACH, &counters_.connect_unreachable);
    remote_->Connect(c, m, NewSessid());
    return;
  }
  auto svc = services_.find(m.service);
  if (svc == services_.end()) return refuse(ECONNREFUSED, &counters_.connect_refused);
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return refuse(errno == EMFILE || errno == ENFILE ? EAGAIN : errno, nullptr);
  }
  common::UniqueFd service_end(pair[0]);
  PendingConnect p;
  p.client = c;
  p.client_msgid = m.msgid;
  p.service_conn = svc->second.conn;
  p.sessid = NewSessid();
  p.service = m.service;
  p.client_pid = c->pid();
  p.client_uid = c->uid();
  p.client_end.reset(pair[1]);
  const int timeout = !m.has_timeout || m.timeout_ms == 0 ? limits_.default_connect_timeout_ms
                                                           : m.timeout_ms;
  OfferSession(std::move(p), std::move(service_end),
               static_cast<uint32_t>(Kind::kDirect), timeout);
}

void Broker::OpenRelayedSession(const std::string& service, uint64_t sessid,
                                const std::string& peer_node, int32_t peer_pid,
                                int32_t peer_uid, int timeout_ms,
                                common::UniqueFd service_end, std::function<void(int)> done) {
  counters_.connects++;
  int err = 0;
  auto svc = services_.find(service);
  if (draining_ || sessions_.size() + pending_.size() >= limits_.max_sessions) {
    err = EAGAIN;
    counters_.connect_limited++;
  } else if (svc == services_.end()) {
    err = ECONNREFUSED;
    counters_.connect_refused++;
  } else if (sessions_.contains(sessid)) {
    err = EEXIST;
  }
  if (err != 0) {
    done(err);
    return;
  }
  PendingConnect p;
  p.done = std::move(done);
  p.service_conn = svc->second.conn;
  p.sessid = sessid;
  p.service = service;
  p.peer_node = peer_node;
  p.client_pid = peer_pid;
  p.client_uid = static_cast<uid_t>(peer_uid);
  OfferSession(std::move(p), std::move(service_end),
               static_cast<uint32_t>(Kind::kRelayed),
               timeout_ms == 0 ? limits_.default_connect_timeout_ms : timeout_ms);
}

void Broker::OfferSession(PendingConnect p, common::UniqueFd service_end, uint32_t kind,
                          int timeout_ms) {
  if (p.client != nullptr) sessions_per_pid_[p.client_pid]++;  // counted while pending
  const uint64_t open_id = next_msgid_++;
  Message open;
  open.op = Op::kSessionOpen;
  open.msgid = open_id;
  open.sessid = p.sessid;
  open.kind = kind;
  open.node = p.peer_node;
  open.peer_pid = p.client_pid;
  open.peer_uid = static_cast<int32_t>(p.client_uid);
  if (timeout_ms > 0) {
    p.timer = timers_();
    p.timer->Start(static_cast<uint64_t>(timeout_ms), [this, open_id] {
      counters_.connect_timeouts++;
      FinishConnect(open_id, ETIMEDOUT);
    });
  }
  Client* service = p.service_conn;
  pending_.emplace(open_id, std::move(p));
  // Send never calls back into the Broker: a failure closes the service's
  // connection later, and ClientGone finishes this with ECONNREFUSED.
  service->Send(open, service_end.get());
}

void Broker::SessionOpenReply(Client* service, const Message& m) {
  auto it = pending_.find(m.msgid);
  if (it == pending_.end() || it->second.service_conn != service) return;  // late
  FinishConnect(m.msgid, m.error);
}

void Broker::FinishConnect(uint64_t open_msgid, int error) {
  auto it = pending_.find(open_msgid);
  if (it == pending_.end()) return;
  PendingConnect p = std::move(it->second);
  pending_.erase(it);
  if (p.timer != nullptr) p.timer->Cancel();
  if (error != 0) {
    if (p.client != nullptr && --sessions_per_pid_[p.client_pid] == 0) {
      sessions_per_pid_.erase(p.client_pid);
    }
    if (error != ETIMEDOUT) counters_.connect_refused++;
    if (p.done) {
      p.done(error);
    } else {
      Message req;
      req.op = Op::kConnect;
      req.msgid = p.client_msgid;
      Reply(p.client, req, error);
    }
    return;  // closing client_end tells the service, if it took the session
  }
  Session s{p.sessid,      p.service,       p.service_conn, p.client_pid,
            p.client_uid,  UnixMs(),        p.peer_node};
  sessions_.emplace(p.sessid, s);
  counters_.connects_ok++;
  counters_.sessions_opened++;
  common::Log(common::LogLevel::kInfo, "broker", "session opened")
      .Kv("sessid", Hex(p.sessid))
      .Kv("service", p.service)
      .Kv("client_pid", p.client_pid)
      .Kv("kind", p.peer_node.empty() ? "local" : "remote")
      .Kv("peer_node", p.peer_node);
  if (p.done) {
    p.done(0);
    return;
  }
  Message req;
  req.op = Op::kConnect;
  req.msgid = p.client_msgid;
  Message ok = libsyslink::ctl::ReplyTo(req, 0);
  ok.sessid = p.sessid;
  ok.kind = static_cast<uint32_t>(Kind::kDirect);
  p.client->Send(ok, p.client_end.get());
}

void Broker::SessionEnded(Client* c, const Message& m) {
  auto it = sessions_.find(m.sessid);
  if (it == sessions_.end() || it->second.service_conn != c) {
    Reply(c, m, ENOENT);
    return;
  }
  if (it->second.peer_node.empty()) {
    const pid_t pid = it->second.client_pid;
    if (--sessions_per_pid_[pid] == 0) sessions_per_pid_.erase(pid);
  }
  counters_.sessions_closed++;
  common::Log(common::LogLevel::kInfo, "broker", "session closed")
      .Kv("sessid", Hex(m.sessid))
      .Kv("service", it->second.service)
      .Kv("why", strerror(m.why));
  sessions_.erase(it);
  Reply(c, m, 0);
}

void Broker::ClientGone(Client* c) {
  if (remote_ != nullptr) remote_->ClientGone(c);
  if (regions_ != nullptr) regions_->ClientGone(c);
  // Connects it was waiting for.
  std::vector<uint64_t> finished;
  for (auto& [id, p] : pending_) {
    if (p.client == c) {
      finished.push_back(id);
    } else if (p.service_conn == c) {
      finished.push_back(id);
    }
  }
  for (uint64_t id : finished) {
    auto it = pending_.find(id);
    if (it->second.client == c && it->second.service_conn != c) {
      // Nobody to answer: drop it (closing client_end tells the service).
      if (it->second.timer != nullptr) it->second.timer->Cancel();
      if (--sessions_per_pid_[c->pid()] == 0) sessions_per_pid_.erase(c->pid());
      pending_.erase(it);
    } else {
      FinishConnect(id, ECONNREFUSED);  // the service died before taking it
    }
  }
  // Its service, and the sessions of that service (the clients learn of the
  // service's death from their own sockets).
  auto svc = service_of_.find(c);
  if (svc != service_of_.end()) {
    common::Log(common::LogLevel::kInfo, "broker", "service gone")
        .Kv("service", svc->second)
        .Kv("pid", c->pid());
    if (svc->second.rfind(kBuiltinPrefix, 0) == 0) builtins_--;
    services_.erase(svc->second);
    service_of_.erase(svc);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.service_conn == c) {
        if (it->second.peer_node.empty()) {
          const pid_t pid = it->second.client_pid;
          if (--sessions_per_pid_[pid] == 0) sessions_per_pid_.erase(pid);
        }
        counters_.sessions_closed++;
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
  }
}

std::vector<Broker::ServiceInfo> Broker::Services() const {
  std::vector<ServiceInfo> out;
  for (const auto& [name, s] : services_) {
    size_t n = 0;
    for (const auto& [id, sess] : sessions_) n += sess.service_conn == s.conn;
    out.push_back(ServiceInfo{name, s.conn->pid(), s.conn->uid(), n});
  }
  return out;
}

std::vector<Broker::SessionInfo> Broker::Sessions() const {
  std::vector<SessionInfo> out;
  for (const auto& [id, s] : sessions_) {
    out.push_back(SessionInfo{id, s.service, s.peer_node.empty() ? "local" : "remote",
                              s.client_pid, s.client_uid, s.service_conn->pid(),
                              s.opened_unix_ms});
  }
  return out;
}

}  // namespace meshd
