// Broker: meshd's services and sessions on this node (SPEC §4, §7).
//
// Services register with LISTEN; a CONNECT to a service on this node gets a
// socket pair, one end handed to the service (kSessionOpen, which the
// service's library acknowledges) and the other to the client. From then on
// the two processes talk directly: meshd is not on the data path of a local
// session. The service's library tells meshd when a session ends, so the
// session table stays true.
//
// The Broker does no I/O of its own: it talks to clients through the Client
// interface (implemented by ClientServer's connections), which keeps it
// testable. Everything runs on meshd's event loop thread.
#ifndef MESHD_CLIENT_BROKER_H_
#define MESHD_CLIENT_BROKER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/unique_fd.h"
#include "libsyslink/control.h"

namespace meshd {

// One connection from a process on this node.
class Client {
 public:
  virtual ~Client() = default;
  // Queues M (with PASS_FD, which the connection dups or sends before
  // returning) for the process. A connection that cannot take it (gone,
  // or over its queue bound) is closed; Broker learns via ClientGone.
  virtual void Send(const libsyslink::ctl::Message& m, int pass_fd = -1) = 0;
  // Closes the connection after what is queued has been sent.
  virtual void CloseAfterFlush() = 0;
  virtual uint64_t id() const = 0;
  virtual pid_t pid() const = 0;
  virtual uid_t uid() const = 0;
};

// A timer on the event loop: Start(ms, fn) runs fn once unless Cancel()ed.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void Start(uint64_t ms, std::function<void()> fn) = 0;
  virtual void Cancel() = 0;
};
using TimerFactory = std::function<std::unique_ptr<Timer>()>;

class Broker {
 public:
  struct Limits {
    size_t max_services = 256;
    size_t max_sessions_per_client = 1024;  // per client process (pid)
    size_t max_sessions = 65536;            // on this node
    int default_connect_timeout_ms = 10000;
  };
  struct ServiceInfo {
    std::string name;
    pid_t pid;
    uid_t uid;
    size_t sessions;
  };
  struct SessionInfo {
    uint64_t sessid;
    std::string service;
    std::string kind;  // "local" (direct) or "remote"
    pid_t client_pid;
    uid_t client_uid;
    pid_t service_pid;
    int64_t opened_unix_ms;
  };
  struct Counters {
    uint64_t listens = 0, listen_refused = 0;
    uint64_t connects = 0, connects_ok = 0, connect_refused = 0,
             connect_timeouts = 0, connect_limited = 0, connect_unreachable = 0;
    uint64_t sessions_opened = 0, sessions_closed = 0;
    uint64_t bad_requests = 0;
  };

  Broker(std::string node_name, Limits limits, TimerFactory timers);
  ~Broker();

  // A request from client C (already decoded and credential-checked).
  void OnRequest(Client* c, const libsyslink::ctl::Message& m, common::UniqueFd fd);
  // C is gone: its service, sessions and pending requests are cleaned up.
  void ClientGone(Client* c);
  // Stop taking new sessions (drain): CONNECT and LISTEN get EAGAIN.
  void SetDraining(bool draining) { draining_ = draining; }

  std::vector<ServiceInfo> Services() const;
  std::vector<SessionInfo> Sessions() const;
  const Counters& counters() const { return counters_; }
  size_t session_count() const { return sessions_.size(); }

 private:
  struct Service {
    std::string name;
    Client* conn;
  };
  struct Session {
    uint64_t sessid;
    std::string service;
    Client* service_conn;
    pid_t client_pid;
    uid_t client_uid;
    int64_t opened_unix_ms;
  };
  // A CONNECT waiting for the service to take the session.
  struct PendingConnect {
    Client* client;
    uint64_t client_msgid;
    Client* service_conn;
    uint64_t sessid;
    std::string service;
    common::UniqueFd client_end;
    std::unique_ptr<Timer> timer;
  };

  void Listen(Client* c, const libsyslink::ctl::Message& m);
  void Connect(Client* c, const libsyslink::ctl::Message& m);
  void SessionEnded(Client* c, const libsyslink::ctl::Message& m);
  void SessionOpenReply(Client* service, const libsyslink::ctl::Message& m);
  void FinishConnect(uint64_t open_msgid, int error);
  void Reply(Client* c, const libsyslink::ctl::Message& m, int error);
  uint64_t NewSessid();

  const std::string node_name_;
  const Limits limits_;
  TimerFactory timers_;
  bool draining_ = false;
  uint64_t next_msgid_ = 1;
  Counters counters_;

  absl::flat_hash_map<std::string, Service> services_;       // by name
  absl::flat_hash_map<Client*, std::string> service_of_;     // conn -> name
  absl::flat_hash_map<uint64_t, Session> sessions_;          // by sessid
  absl::flat_hash_map<pid_t, size_t> sessions_per_pid_;
  absl::flat_hash_map<uint64_t, PendingConnect> pending_;    // by open msgid
};

}  // namespace meshd

#endif  // MESHD_CLIENT_BROKER_H_
