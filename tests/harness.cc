#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace testing_harness {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// waitpid with a deadline: polls a pidfd for the exit.
int WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(timeout.count()));
    close(pidfd);
    if (n == 0) return -1;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/slm.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) abort();
  chmod(tmpl, 0755);  // the socket's own mode decides who may connect
  path_ = tmpl;
}

TempDir::~TempDir() {
  nftw(
      path_.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

std::string Runfile(const std::string& rel) {
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {  // bazel test, bazel run
    if (const char* src = getenv(var)) {
      std::string p = std::string(src) + "/syslink_mesh/" + rel;
      if (access(p.c_str(), X_OK) == 0) return p;
    }
  }
  if (access(rel.c_str(), X_OK) == 0) return rel;  // bazel run's working directory
  return ".bazel/bin/" + rel;                      // run by hand from the workspace
}

// ---------------------------------------------------------------------------

Meshd::Meshd(const std::string& dir, const std::string& node, const std::string& extra,
             const std::string& client_extra, const std::string& log_level)
    : dir_(dir) {
  client_socket_ = dir + "/" + node + ".sock";
  config_path_ = dir + "/" + node + ".conf";
  log_path_ = dir + "/" + node + ".log";
  notify_path_ = dir + "/" + node + ".notify";
  std::ofstream conf(config_path_);
  conf << "node { name: \"" << node << "\" }\n"
       << "client { socket_path: \"" << client_socket_ << "\" " << client_extra << " }\n"
       << "admin { socket_path: \"" << dir << "/" << node << ".admin\" }\n"
       << "log { level: " << log_level << " }\n"
       << extra << "\n";
}

Meshd::~Meshd() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
  if (notify_fd_ >= 0) close(notify_fd_);
}

bool Meshd::Start(std::chrono::milliseconds timeout) {
  if (notify_fd_ < 0) {
    notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", notify_path_.c_str());
    unlink(notify_path_.c_str());
    if (bind(notify_fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
      return false;
    }
  }
  const std::string bin = Runfile("meshd/meshd");
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, 2);
    dup2(log, 1);
    setenv("NOTIFY_SOCKET", notify_path_.c_str(), 1);
    if (!netns_.empty()) {
      execlp("ip", "ip", "netns", "exec", netns_.c_str(), bin.c_str(), "--config",
             config_path_.c_str(), nullptr);
    } else {
      execl(bin.c_str(), "meshd", "--config", config_path_.c_str(), nullptr);
    }
    _exit(127);
  }
  return WaitNotify("READY=1", timeout);
}

bool Meshd::WaitNotify(const std::string& state, std::chrono::milliseconds timeout) {
  const int64_t deadline = NowMs() + timeout.count();
  for (;;) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) return false;
    struct pollfd pfd = {notify_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 200))) == 1) {
      char buf[512];
      const ssize_t n = recv(notify_fd_, buf, sizeof buf - 1, 0);
      if (n > 0 && std::string(buf, static_cast<size_t>(n)).find(state) != std::string::npos) {
        return true;
      }
      continue;
    }
    // Still no datagram: has it died?
    int status;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
  }
}

bool Meshd::WaitLog(const std::string& text, std::chrono::milliseconds within) const {
  const int64_t deadline = NowMs() + within.count();
  while (ReadLog().find(text) == std::string::npos) {
    if (NowMs() > deadline) return false;
    // A millisecond between reads: the log is read whole, and the meshd
    // writing it needs the CPU more than this loop does.
    poll(nullptr, 0, 1);
  }
  return true;
}

bool Meshd::Reload(const std::string& from, const std::string& to, const std::string& status) {
  std::stringstream text;
  text << std::ifstream(config_path_).rdbuf();
  std::string conf = text.str();
  const size_t at = conf.find(from);
  if (at == std::string::npos) return false;
  conf.replace(at, from.size(), to);
  std::ofstream(config_path_, std::ios::trunc) << conf;
  Signal(SIGHUP);
  return WaitNotify(status);
}

void Meshd::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Meshd::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const int status = WaitPid(pid_, timeout);
  if (status != -1) pid_ = -1;
  return status;
}

int Meshd::MeshPort() const {
  // The last "ready" line: ... msg=ready ... mesh_port=N ...
  const std::string log = ReadLog();
  const size_t ready = log.rfind("msg=ready");
  if (ready == std::string::npos) return -1;
  const size_t at = log.find("mesh_port=", ready);
  if (at == std::string::npos) return -1;
  return atoi(log.c_str() + at + strlen("mesh_port="));
}

std::string WriteClusterKey(const std::string& dir, const std::string& key) {
  const std::string path = dir + "/cluster.key";
  std::ofstream out(path);
  out << key << "\n";
  out.close();
  chmod(path.c_str(), 0600);
  return path;
}

int Shell(const std::string& command) {
  const int status = system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string Meshd::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------

Child::Child(std::function<int()> fn) {
  fflush(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int code = 99;
    code = fn();
    _exit(code);
  }
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
}

void Child::Kill(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Child::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const int status = WaitPid(pid_, timeout);
  if (status == -1) return -1;
  pid_ = -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// ---------------------------------------------------------------------------

Channel::Channel() {
  if (pipe2(fds_, O_CLOEXEC) != 0) abort();
}

Channel::~Channel() {
  close(fds_[0]);
  close(fds_[1]);
}

void Channel::Put(int64_t v) {
  if (write(fds_[1], &v, sizeof v) != sizeof v) abort();
}

void Channel::PutMany(const int64_t* v, size_t n) {
  const ssize_t bytes = static_cast<ssize_t>(n * sizeof *v);
  if (write(fds_[1], v, static_cast<size_t>(bytes)) != bytes) abort();
}

bool Channel::Get(int64_t* v, std::chrono::milliseconds timeout) {
  struct pollfd pfd = {fds_[0], POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return false;
  return read(fds_[0], v, sizeof *v) == sizeof *v;
}

}  // namespace testing_harness
