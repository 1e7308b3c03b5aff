// AdminServer: meshd's gRPC admin API (proto/admin.proto, service
// meshd.admin.Admin), served on a Unix socket and optionally on TCP with
// TLS, on gRPC's own threads.
//
//   meshd::admin::AdminServer::Options o;
//   o.socket_path = "/run/meshd/admin.sock";    // mode 0660 by default
//   meshd::admin::AdminServer admin(o, &executor, &backend);
//   if (absl::Status s = admin.Start(); !s.ok()) ...;
//   ...
//   admin.Stop();   // on the loop thread, when meshd stops
//
// Every rpc reaches meshd's state only through EXECUTOR, which runs the
// BACKEND method on the event loop: the loop never waits for the admin
// API, and an rpc waits for the loop at most until its own deadline or
// Options::max_call_wait, whichever is first. Errors: UNAVAILABLE only
// when meshd is stopping, DEADLINE_EXCEEDED when the loop did not answer
// in time, RESOURCE_EXHAUSTED when too many calls wait for the loop,
// INVALID_ARGUMENT for a bad request; a backend error keeps its code
// (Unavailable becomes FAILED_PRECONDITION). Mesh failures during Ping and
// Trace are results inside the response, never rpc errors.
//
// Security: access to the Unix socket is by its file mode (and its
// directory's); anyone who can connect may call every rpc, Drain included.
// The TCP listener requires TLS, and client certificates when
// tls_ca_file is set. gRPC server reflection and the standard health
// service are enabled (grpcurl works).
#ifndef MESHD_ADMIN_ADMIN_SERVER_H_
#define MESHD_ADMIN_ADMIN_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "meshd/admin/admin_backend.h"
#include "meshd/admin/loop_executor.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace meshd {
namespace admin {

class AdminServer {
 public:
  struct Options {
    // The Unix socket (absolute, 1..107 bytes); its directory is made
    // (0755) if missing. Required.
    std::string socket_path;
    // Permission bits of the socket file, at most 0777.
    mode_t socket_mode = 0660;
    // Also listen here ("host:port", "[v6]:port"; port 0 = any free port,
    // see tcp_port()), with TLS. Empty: no TCP listener.
    std::string tcp_address;
    // PEM files for TCP: certificate chain and key (both required with
    // tcp_address); the CA bundle that client certificates must chain to
    // (empty: no client certificate asked for).
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_ca_file;
    // The longest an rpc waits for the event loop to answer one query
    // (a shorter client deadline wins). Ping and Trace wait for each
    // probe's own timeout plus this.
    absl::Duration max_call_wait = absl::Seconds(10);
    // gRPC threads serving rpcs at once (more calls wait in gRPC's queue).
    int max_threads = 8;
  };

  // EXECUTOR and BACKEND must outlive the server; BACKEND is only ever
  // called through EXECUTOR (on the loop thread).
  AdminServer(Options options, LoopExecutor* executor, AdminBackend* backend);
  // Stop()s if needed.
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts serving. Fails (nothing left running) if the options
  // are invalid (InvalidArgument), another process answers on the socket
  // path or the path is something other than a socket
  // (FailedPrecondition), the TLS files cannot be read (NotFound,
  // PermissionDenied...), or gRPC cannot bind (Internal). A stale socket
  // file from a dead meshd is replaced. The process umask is changed
  // briefly while the socket is bound: call it before starting threads that
  // create files. Call once; any thread (it does not touch the loop).
  absl::Status Start();

  // Shuts the executor down (idempotent; on the loop thread unless it was
  // shut down already), which fails the calls waiting for the loop at once;
  // then stops gRPC, waiting (at most about a second) for the rpcs in
  // progress to return, and removes the socket file. Blocks its thread for
  // that long at most. Idempotent.
  void Stop();

  // The TCP port bound (the chosen one after port 0); 0 without TCP.
  int tcp_port() const { return tcp_port_; }

 private:
  class Impl;

  const Options options_;
  LoopExecutor* const executor_;
  AdminBackend* const backend_;
  std::unique_ptr<Impl> service_;
  std::unique_ptr<grpc::Server> server_;
  int tcp_port_ = 0;
  // The socket file we bound, to remove only ours at Stop().
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_ADMIN_SERVER_H_
