// Runs one client/server measurement as two processes, the way production
// peers talk: every wake-up crosses a process boundary.
//
//   Measurement m = RunClientServer(
//       [&](ServerContext& ctx) { ...bind...; ctx.Ready(); ...serve...; return absl::OkStatus(); },
//       [&]() -> absl::StatusOr<Measurement> { ...connect, measure... },
//       options, [&] { /* the parent drops its copies of shared fds */ });
//   if (!m.error().empty()) ...
//
// The caller (the orchestrator) forks a server process and then a client
// process, and never runs transport code itself, so libraries that dislike
// fork() (gRPC, ZeroMQ) only ever start in a fresh child. The client waits
// for the server's Ready() before it starts; the server is told to stop
// (its stop_fd reaches end-of-file) once the client has exited. Each child
// hands its result back through shared memory. Nothing waits on a timer
// except the overall timeout, which kills both children.
#ifndef TOOLS_BENCH_PROCESS_H_
#define TOOLS_BENCH_PROCESS_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/bench/report.pb.h"

namespace bench {

// What the server process gets from the harness.
class ServerContext {
 public:
  ServerContext(int ready_fd, int stop_fd) : ready_fd_(ready_fd), stop_fd_(stop_fd) {}

  // Tells the client process that the server now accepts requests. Call it
  // exactly once, after binding or listening. Returns an error if the
  // client is already gone.
  absl::Status Ready();

  // A descriptor that becomes readable (at end-of-file) once the client
  // process has exited. Servers that cannot otherwise tell that their
  // client is gone (ZeroMQ, gRPC) wait on it; others may ignore it.
  int stop_fd() const { return stop_fd_; }

 private:
  int ready_fd_;
  int stop_fd_;
};

using ServerFn = std::function<absl::Status(ServerContext& ctx)>;
// Returns the measurement, an error, or SkippedError() (see below).
using ClientFn = std::function<absl::StatusOr<Measurement>()>;

struct ProcessOptions {
  int server_cpu = -1;  // sched_setaffinity() the server to it if >= 0
  int client_cpu = -1;
  absl::Duration timeout = absl::Seconds(60);     // for the whole run
  absl::Duration stop_grace = absl::Seconds(10);  // server exit after client's
};

// Runs SERVER in a child process and CLIENT in another, waiting for both.
// AFTER_FORK runs in this process once both children exist (close the
// parent's copies of shared descriptors there, so the children see each
// other's end-of-file). Returns the client's Measurement; any failure (of
// either child, a crash, the timeout) is reported in its error field and a
// SkippedError() from the client in its skipped field. Must be called from
// a single-threaded process.
Measurement RunClientServer(const ServerFn& server, const ClientFn& client,
                            const ProcessOptions& options,
                            const std::function<void()>& after_fork);

// A status meaning "this case cannot run on this machine" (not a failure),
// e.g. process_vm_readv() forbidden by ptrace policy.
absl::Status SkippedError(absl::string_view why);
bool IsSkipped(const absl::Status& status);

}  // namespace bench

#endif  // TOOLS_BENCH_PROCESS_H_
