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

// The mesh side of sessions (meshd/relay): CONNECTs to other nodes.
class RemoteSessions {
 public:
  virtual ~RemoteSessions() = default;
  // Opens session SESSID from client C (request M) to service M.service on
  // node M.node, and answers C itself (errno, or sessid + descriptor).
  virtual void Connect(Client* c, const libsyslink::ctl::Message& m, uint64_t sessid) = 0;
  // C is gone: drop its pending CONNECTs (no answer).
  virtual void ClientGone(Client* c) = 0;
};

// Registered memory regions (meshd/regions): the requests for them.
class RegionRequests {
 public:
  virtual ~RegionRequests() = default;
  // A kRegionRegister or kRegionDeregister from C (FD: the memfd that came
  // with it), answered on C.
  virtual void OnRegionRequest(Client* c, const libsyslink::ctl::Message& m,
                               common::UniqueFd fd) = 0;
  // C is gone: its regions die with it.
  virtual void ClientGone(Client* c) = 0;
};

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

  // New limits (a reload): they apply to the next LISTEN and CONNECT.
  // Services and sessions already there stay, even over a lowered limit.
  void SetLimits(const Limits& limits) { limits_ = limits; }
  const Limits& limits() const { return limits_; }

  // Where CONNECTs to other nodes go (nullptr: only this node exists).
  void SetRemote(RemoteSessions* remote) { remote_ = remote; }
  // This node's id: a CONNECT naming it by id stays here.
  void SetNodeId(uint64_t id) { node_id_ = id; }
  // Where region requests go (nullptr: refused with EOPNOTSUPP).
  void SetRegions(RegionRequests* regions) { regions_ = regions; }
  // Publishes a service that meshd itself provides (names starting with
  // "meshd.", which clients cannot LISTEN on), served through C. Returns 0
  // or EADDRINUSE.
  int RegisterBuiltin(const std::string& name, Client* c);

  // A request from client C (already decoded and credential-checked).
  void OnRequest(Client* c, const libsyslink::ctl::Message& m, common::UniqueFd fd);

  // A session arriving from another node for local SERVICE: SERVICE_END
  // (meshd's relay holds the other end) goes to the service as a relayed
  // session; DONE(errno) runs once: 0 when the service took it, else
  // ECONNREFUSED (no such service, or it died), EAGAIN (limits, draining),
  // ETIMEDOUT (not taken within TIMEOUT_MS). DONE may run before this
  // returns (immediate refusals).
  void OpenRelayedSession(const std::string& service, uint64_t sessid,
                          const std::string& peer_node, int32_t peer_pid, int32_t peer_uid,
                          int timeout_ms, common::UniqueFd service_end,
                          std::function<void(int)> done);

  // A fresh session id: 64 random bits, top bit set, not in use here.
  uint64_t NewSessid();
  // C is gone: its service, sessions and pending requests are cleaned up.
  void ClientGone(Client* c);
  // Stop taking new sessions (drain): CONNECT and LISTEN get EAGAIN.
  void SetDraining(bool draining) { draining_ = draining; }
  bool draining() const { return draining_; }

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
    std::string peer_node;  // empty: a local client
  };
  // A session waiting for the service to take it: a local CONNECT (CLIENT
  // is answered) or a relayed one (DONE is called).
  struct PendingConnect {
    Client* client = nullptr;
    uint64_t client_msgid = 0;
    std::function<void(int)> done;
    Client* service_conn = nullptr;
    uint64_t sessid = 0;
    std::string service;
    std::string peer_node;
    pid_t client_pid = 0;
    uid_t client_uid = 0;
    common::UniqueFd client_end;
    std::unique_ptr<Timer> timer;
  };

  void Listen(Client* c, const libsyslink::ctl::Message& m);
  void Connect(Client* c, const libsyslink::ctl::Message& m);
  void SessionEnded(Client* c, const libsyslink::ctl::Message& m);
  void SessionOpenReply(Client* service, const libsyslink::ctl::Message& m);
  // Sends kSessionOpen for P (and SERVICE_END) to the service; P waits.
  void OfferSession(PendingConnect p, common::UniqueFd service_end, uint32_t kind,
                    int timeout_ms);
  void FinishConnect(uint64_t open_msgid, int error);
  void Reply(Client* c, const libsyslink::ctl::Message& m, int error);

  const std::string node_name_;
  Limits limits_;
  TimerFactory timers_;
  RemoteSessions* remote_ = nullptr;
  RegionRequests* regions_ = nullptr;
  uint64_t node_id_ = 0;
  bool draining_ = false;
  uint64_t next_msgid_ = 1;
  Counters counters_;

  absl::flat_hash_map<std::string, Service> services_;       // by name
  size_t builtins_ = 0;  // of services_: meshd's own, not under max_services
  absl::flat_hash_map<Client*, std::string> service_of_;     // conn -> name
  absl::flat_hash_map<uint64_t, Session> sessions_;          // by sessid
  absl::flat_hash_map<pid_t, size_t> sessions_per_pid_;
  absl::flat_hash_map<uint64_t, PendingConnect> pending_;    // by open msgid
};

}  // namespace meshd

#endif  // MESHD_CLIENT_BROKER_H_
