// ClientServer: meshd's client socket (SYSLINK_MESHD), on the event loop.
//
// Accepts connections from processes on this node, checks their
// credentials (SO_PEERCRED, SO_PEERGROUPS) against the policy, decodes each
// request (libsyslink/control.h: a malformed one closes the connection and
// is counted) and hands it to the Broker. Replies and meshd's own requests
// go out through a bounded per-connection queue; a client that lets it
// overflow is disconnected.
#ifndef MESHD_CLIENT_CLIENT_SERVER_H_
#define MESHD_CLIENT_CLIENT_SERVER_H_

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "meshd/client/broker.h"

namespace meshd {

class ClientServer {
 public:
  struct Options {
    std::string socket_path;
    mode_t socket_mode = 0660;
    // Who may connect: root, meshd's own uid, members of meshd's group,
    // and these uids and gids.
    std::vector<uid_t> allowed_uids;
    std::vector<gid_t> allowed_gids;
    size_t max_clients = 1024;
    size_t max_queued_bytes_per_client = 4u << 20;
  };
  struct Counters {
    uint64_t accepted = 0;
    uint64_t refused_credentials = 0;
    uint64_t refused_limit = 0;
    uint64_t malformed = 0;
    uint64_t overflowed = 0;
  };

  ClientServer(uv_loop_t* loop, Options options, Broker* broker);
  ~ClientServer();
  ClientServer(const ClientServer&) = delete;
  ClientServer& operator=(const ClientServer&) = delete;

  // Binds and listens. Fails if another meshd answers on the path (a stale
  // socket file is replaced) or the path is unusable.
  absl::Status Start();
  // Stops accepting and closes every connection (services and clients see
  // end-of-file). The socket file is removed.
  void Stop();

  size_t client_count() const { return conns_.size(); }
  const Counters& counters() const { return counters_; }
  const Options& options() const { return options_; }
  // What a reload (SIGHUP) may change: takes allowed_uids, allowed_gids,
  // max_clients and max_queued_bytes_per_client from O (socket_path and
  // socket_mode stay as they were bound). The lists and max_clients apply
  // to connections accepted from then on: clients already connected stay,
  // even over a lowered max_clients or with a uid no longer listed.
  // max_queued_bytes_per_client applies to the next message queued for any
  // client.
  void SetAdmission(const Options& o);

 private:
  class Conn;
  friend class Conn;

  static void OnListenEvent(uv_poll_t* h, int status, int events);
  void Accept();
  bool Allowed(int fd, const struct ucred& cred) const;
  void Forget(Conn* c);

  uv_loop_t* const loop_;
  Options options_;
  Broker* const broker_;
  int listen_fd_ = -1;
  uv_poll_t listen_poll_;
  bool listening_ = false;
  uint64_t next_id_ = 1;
  absl::flat_hash_map<Conn*, std::unique_ptr<Conn>> conns_;
  Counters counters_;
};

}  // namespace meshd

#endif  // MESHD_CLIENT_CLIENT_SERVER_H_
