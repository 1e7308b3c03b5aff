// Test harness: real meshd processes and helper child processes.
//
//   TempDir dir;                                 // short /tmp dir (sockets)
//   Meshd m(dir.path(), "n1");                   // config written, not started
//   ASSERT_TRUE(m.Start());                      // waits for READY=1
//   setenv("SYSLINK_MESHD", m.client_socket().c_str(), 1);
//   Child svc([&] { ...; return 0; });           // fork; the lambda's value
//   EXPECT_EQ(svc.Wait(), 0);                    // is the exit status
//
// Synchronization is by events, never by sleeping: meshd's readiness comes
// from its sd_notify datagram, children report through pipes.
#ifndef TESTS_HARNESS_H_
#define TESTS_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

namespace testing_harness {

// A directory under /tmp with a short name, removed (recursively) at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The path of a binary built by Bazel (a data dependency of the test), e.g.
// Runfile("meshd/meshd").
std::string Runfile(const std::string& workspace_relative);

// A meshd process with its own config file, client socket and notify socket.
class Meshd {
 public:
  // EXTRA is appended to the generated config (protobuf text format);
  // CLIENT_EXTRA goes inside its client { } block; LOG_LEVEL is the log
  // block's level (DEBUG, so that tests can read what happened).
  Meshd(const std::string& dir, const std::string& node, const std::string& extra = "",
        const std::string& client_extra = "", const std::string& log_level = "DEBUG");
  ~Meshd();  // SIGKILLs it if still running

  // Starts meshd and waits (up to TIMEOUT) for READY=1. Returns false if it
  // exited or timed out; its stderr is in log_path().
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends SIG; for SIGTERM/SIGINT waits for STOPPING=1 first if WAIT_STOPPING.
  void Signal(int sig);
  // Waits for it to exit; returns the waitpid status (or -1).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for a datagram containing STATE (e.g. "STOPPING=1").
  bool WaitNotify(const std::string& state,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Runs meshd inside network namespace NETNS (ip netns exec), from the
  // next Start() on.
  void SetNetns(const std::string& netns) { netns_ = netns; }
  // The mesh port meshd reported when it became ready (its listen address
  // may have said port 0), or -1.
  int MeshPort() const;

  pid_t pid() const { return pid_; }
  const std::string& client_socket() const { return client_socket_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;
  // Waits (up to WITHIN) until the log contains TEXT.
  bool WaitLog(const std::string& text,
               std::chrono::milliseconds within = std::chrono::seconds(20)) const;
  // Rewrites the config file with FROM (which must be in it) replaced by
  // TO, sends SIGHUP and waits for the notify datagram carrying STATUS
  // (how the reload went). False if FROM is not there, or no such datagram
  // came.
  bool Reload(const std::string& from, const std::string& to,
              const std::string& status = "STATUS=reloaded");

 private:
  std::string dir_, client_socket_, config_path_, log_path_, notify_path_, netns_;
  int notify_fd_ = -1;
  pid_t pid_ = -1;
};

// A forked child running FN; FN's return value is the exit status. The
// child never returns into the test framework.
class Child {
 public:
  explicit Child(std::function<int()> fn);
  ~Child();  // SIGKILLs and reaps it if still running
  void Kill(int sig);
  // Returns the exit status (WEXITSTATUS), 128 + signal if killed, or -1 on
  // timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Writes a cluster key file (mode 0600) in DIR and returns its path.
std::string WriteClusterKey(const std::string& dir, const std::string& key);

// Runs a shell command; returns its exit status (or -1).
int Shell(const std::string& command);

// A one-way pipe for children to report to the test: Put() a value, Get()
// it (with a deadline). Both ends stay open in both processes.
class Channel {
 public:
  Channel();
  ~Channel();
  void Put(int64_t v);
  // Puts N values in one write: atomic even with several writers (N * 8
  // bytes must stay under PIPE_BUF).
  void PutMany(const int64_t* v, size_t n);
  // Returns false on timeout or end-of-file.
  bool Get(int64_t* v, std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  int fds_[2];
};

}  // namespace testing_harness

#endif  // TESTS_HARNESS_H_
