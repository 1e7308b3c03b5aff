// syslinkctl's command line: parsing, and running a command against meshd's
// admin API (proto/admin.proto). main.cc is only `return Main(...)`.
//
//   syslinkctl [OPTIONS] OBJECT [show]       status nodes links routes sessions
//                                            services regions sfbuf stats
//   syslinkctl [OPTIONS] ping NODE [-c COUNT] [-i INTERVAL]
//   syslinkctl [OPTIONS] trace NODE
//   syslinkctl [OPTIONS] drain
//   syslinkctl [OPTIONS] watch [-n INTERVAL] [-c COUNT] OBJECT
//   syslinkctl help [OBJECT|COMMAND]
//
// Exit codes (ExitCode): 0 ok; 1 a problem was found (see format.h:
// StatusProblems, NodeProblems, LinkProblems; a lost ping probe; a trace
// that did not reach its node; an error answer from meshd); 2 usage error
// (bad arguments, unreadable TLS files, or a request meshd calls invalid);
// 3 meshd unreachable (cannot connect, UNAVAILABLE, or no answer within
// --timeout).
//
// Tests call Parse() and Run() with a stub of their own, or Main() with
// arguments pointing at a test server.
#ifndef TOOLS_SYSLINKCTL_CLI_H_
#define TOOLS_SYSLINKCTL_CLI_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/admin.grpc.pb.h"

namespace syslinkctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitProblem = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
};

// Where syslinkctl connects by default (overridden by $SYSLINK_ADMIN, then
// by --endpoint).
inline constexpr char kDefaultEndpoint[] = "unix:/run/meshd/admin.sock";

// A parsed command line.
struct Invocation {
  // "help", an object ("status", "nodes", "links", "routes", "sessions",
  // "services", "regions", "sfbuf", "stats"), or "ping", "trace", "drain",
  // "watch".
  std::string command;
  std::string help_topic;  // help: "" (general) or a command
  std::string object;      // watch: the object watched
  std::string node;        // ping, trace
  bool json = false;       // -j
  std::string endpoint;    // "unix:/path" or "host:port" (TLS)
  absl::Duration timeout = absl::Seconds(5);
  std::string cacert, cert, key;  // TLS files (TCP endpoints only)
  // ping: probes (default 3); watch: refreshes before exiting (0 = until
  // interrupted).
  uint32_t count = 0;
  // ping: between probes (default 1s); watch: between refreshes (default 2s).
  absl::Duration interval = absl::ZeroDuration();
  std::string service;  // sessions --service
  uint32_t limit = 0;   // sessions, regions --limit (0 = meshd's cap)
};

// Parses ARGS (argv without argv[0]). ENV_ENDPOINT is $SYSLINK_ADMIN
// (nullptr or "" if unset). Returns InvalidArgument with a one-line
// message for any usage error; defaults are filled in.
absl::StatusOr<Invocation> Parse(const std::vector<std::string>& args, const char* env_endpoint);

// The help text for TOPIC ("" for the general help, else a command).
std::string HelpText(const std::string& topic);

// The streams and clock-free waiting a run uses.
struct Io {
  std::ostream* out;
  std::ostream* err;
  // Waits D (watch's refresh interval); returns false if interrupted (then
  // watch ends with exit code 0).
  std::function<bool(absl::Duration)> wait;
};

// Runs INV (not "help") against meshd through STUB, writing to IO, and
// returns the exit code.
int Run(const Invocation& inv, meshd::admin::Admin::StubInterface* stub, const Io& io);

// A stub for INV's endpoint and TLS files. Fails (InvalidArgument,
// NotFound...) if a TLS file cannot be read or the options do not fit the
// endpoint; does not connect yet.
absl::StatusOr<std::unique_ptr<meshd::admin::Admin::Stub>> MakeStub(const Invocation& inv);

// The whole program: parse, help, connect, run. Returns the exit code.
// ARGS excludes argv[0]. If WAIT is empty, watch waits with sigtimedwait
// for SIGINT/SIGTERM (which Main then blocks).
int Main(const std::vector<std::string>& args, const char* env_endpoint, std::ostream& out,
         std::ostream& err, std::function<bool(absl::Duration)> wait = nullptr);

}  // namespace syslinkctl

#endif  // TOOLS_SYSLINKCTL_CLI_H_
