#include "tools/bench/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"

namespace bench {
namespace {

using common::UniqueFd;

// Where a child leaves its serialized Measurement (which may be empty).
constexpr size_t kSlotBytes = 64 * 1024;
struct Slot {
  uint32_t present;  // 1 once the child stored its result
  uint32_t bytes;
  char data[kSlotBytes - 2 * sizeof(uint32_t)];
};

// Shared anonymous memory for the two children's results.
class SharedSlots {
 public:
  SharedSlots() {
    void* p = mmap(nullptr, 2 * sizeof(Slot), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    slots_ = p == MAP_FAILED ? nullptr : static_cast<Slot*>(p);
  }
  ~SharedSlots() {
    if (slots_ != nullptr) munmap(slots_, 2 * sizeof(Slot));
  }
  bool ok() const { return slots_ != nullptr; }
  Slot* server() { return &slots_[0]; }
  Slot* client() { return &slots_[1]; }

 private:
  Slot* slots_;
};

void Store(const Measurement& m, Slot* slot) {
  std::string bytes;
  if (!m.SerializeToString(&bytes) || bytes.size() > sizeof slot->data) {
    Measurement small;
    small.set_error("result too large to hand back");
    bytes = small.SerializeAsString();
  }
  memcpy(slot->data, bytes.data(), bytes.size());
  slot->bytes = static_cast<uint32_t>(bytes.size());
  slot->present = 1;
}

// The Measurement in SLOT, or false if the child left none.
bool Load(const Slot* slot, Measurement* m) {
  return slot->present == 1 && slot->bytes <= sizeof slot->data &&
         m->ParseFromArray(slot->data, static_cast<int>(slot->bytes));
}

Measurement FromStatus(const absl::Status& s) {
  Measurement m;
  if (IsSkipped(s)) {
    m.set_skipped(std::string(s.message()));
  } else if (!s.ok()) {
    m.set_error(s.ToString());
  }
  return m;
}

// First thing in a child: die with the orchestrator, ignore SIGPIPE (write
// errors are handled), pin to CPU if asked.
absl::Status EnterChild(pid_t parent, int cpu) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    return absl::InternalError(absl::StrCat("prctl: ", strerror(errno)));
  }
  if (getppid() != parent) return absl::AbortedError("orchestrator gone");
  signal(SIGPIPE, SIG_IGN);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sched_setaffinity(cpu ", cpu, "): ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// Leaves the child without running the orchestrator's exit handlers.
[[noreturn]] void ExitChild(const Measurement& m, Slot* slot) {
  Store(m, slot);
  _exit(m.error().empty() ? 0 : 1);
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// How a child ended, for messages.
std::string Describe(int wstatus) {
  if (WIFEXITED(wstatus)) return absl::StrCat("exited with status ", WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wstatus), " (",
                        strsignal(WTERMSIG(wstatus)), ")");
  }
  return "ended oddly";
}

// A forked child, reaped at the latest when this goes away.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    Kill();
    Reap();
  }

  // In the parent after fork(): watches PID. Returns false on error.
  bool Watch(pid_t pid) {
    pid_ = pid;
    pidfd_.reset(PidfdOpen(pid));
    return pidfd_.ok();
  }
  int pidfd() const { return pidfd_.get(); }
  bool done() const { return done_; }
  int wstatus() const { return wstatus_; }
  bool clean_exit() const { return done_ && WIFEXITED(wstatus_) && WEXITSTATUS(wstatus_) == 0; }

  void Kill() {
    if (pid_ > 0 && !done_) kill(pid_, SIGKILL);
  }
  // Waits for the child to end (it has, if its pidfd is readable).
  void Reap() {
    if (pid_ <= 0 || done_) return;
    while (waitpid(pid_, &wstatus_, 0) < 0 && errno == EINTR) {
    }
    done_ = true;
  }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool done_ = false;
  int wstatus_ = 0;
};

// Waits until one of FDS is readable or TIMEOUT passes. Returns the
// poll() result (0: timed out).
int WaitReadable(struct pollfd* fds, int n, absl::Duration timeout) {
  for (;;) {
    const int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout));
    const absl::Time start = absl::Now();
    const int r = poll(fds, n, static_cast<int>(std::min<int64_t>(ms, INT32_MAX)));
    if (r >= 0 || errno != EINTR) return r;
    timeout -= absl::Now() - start;
  }
}

}  // namespace

absl::Status ServerContext::Ready() {
  if (ready_fd_ < 0) return absl::FailedPreconditionError("Ready() called twice");
  const char c = 'r';
  ssize_t n;
  do {
    n = write(ready_fd_, &c, 1);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  close(ready_fd_);
  ready_fd_ = -1;
  if (n != 1) return absl::UnavailableError(absl::StrCat("client gone: ", strerror(err)));
  return absl::OkStatus();
}

// Marks a skip, so that no errno-derived status is mistaken for one.
constexpr char kSkippedPayload[] = "type.syslink.dev/bench.Skipped";

absl::Status SkippedError(absl::string_view why) {
  absl::Status s = absl::FailedPreconditionError(why);
  s.SetPayload(kSkippedPayload, absl::Cord("skipped"));
  return s;
}

bool IsSkipped(const absl::Status& status) {
  return status.GetPayload(kSkippedPayload).has_value();
}

Measurement RunClientServer(const ServerFn& server, const ClientFn& client,
                            const ProcessOptions& options,
                            const std::function<void()>& after_fork) {
  Measurement failed;
  SharedSlots slots;
  if (!slots.ok()) {
    failed.set_error(absl::StrCat("mmap: ", strerror(errno)));
    return failed;
  }
  int ready[2], stop[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    failed.set_error(absl::StrCat("pipe: ", strerror(errno)));
    return failed;
  }
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (pipe2(stop, O_CLOEXEC) != 0) {
    failed.set_error(absl::StrCat("pipe: ", strerror(errno)));
    return failed;
  }
  UniqueFd stop_r(stop[0]), stop_w(stop[1]);
  const pid_t parent = getpid();
  fflush(nullptr);  // nothing buffered may be written twice

  Child server_child;
  pid_t pid = fork();
  if (pid < 0) {
    failed.set_error(absl::StrCat("fork: ", strerror(errno)));
    return failed;
  }
  if (pid == 0) {
    ready_r.reset();
    stop_w.reset();
    absl::Status s = EnterChild(parent, options.server_cpu);
    if (s.ok()) {
      ServerContext ctx(ready_w.release(), stop_r.get());
      s = server(ctx);
    }
    ExitChild(FromStatus(s), slots.server());
  }
  if (!server_child.Watch(pid)) {
    failed.set_error(absl::StrCat("pidfd_open: ", strerror(errno)));
    return failed;
  }

  Child client_child;
  pid = fork();
  if (pid < 0) {
    failed.set_error(absl::StrCat("fork: ", strerror(errno)));
    return failed;
  }
  if (pid == 0) {
    ready_w.reset();
    stop_r.reset();
    stop_w.reset();
    Measurement m;
    absl::Status s = EnterChild(parent, options.client_cpu);
    if (s.ok()) {
      char c;
      ssize_t n;
      do {
        n = read(ready_r.get(), &c, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) s = absl::UnavailableError("the server exited before it was ready");
    }
    if (s.ok()) {
      absl::StatusOr<Measurement> r = client();
      if (r.ok()) {
        m = *std::move(r);
      } else {
        s = r.status();
      }
    }
    ExitChild(s.ok() ? m : FromStatus(s), slots.client());
  }
  if (!client_child.Watch(pid)) {
    failed.set_error(absl::StrCat("pidfd_open: ", strerror(errno)));
    return failed;
  }
  // Only the children hold these now.
  ready_r.reset();
  ready_w.reset();
  stop_r.reset();
  if (after_fork) after_fork();

  // Wait for the client; a server that fails first ends the run.
  const absl::Time deadline = absl::Now() + options.timeout;
  std::string trouble;
  while (!client_child.done()) {
    struct pollfd fds[2] = {{client_child.pidfd(), POLLIN, 0},
                            {server_child.pidfd(), POLLIN, 0}};
    const int nfds = server_child.done() ? 1 : 2;
    const int r = WaitReadable(fds, nfds, deadline - absl::Now());
    if (r < 0) {
      trouble = absl::StrCat("poll: ", strerror(errno));
      break;
    }
    if (r == 0) {
      trouble = absl::StrCat("timed out after ", absl::FormatDuration(options.timeout));
      break;
    }
    if (fds[0].revents) client_child.Reap();
    if (nfds == 2 && fds[1].revents) {
      server_child.Reap();
      if (!server_child.clean_exit()) break;  // the client may wait forever
    }
  }
  client_child.Kill();
  client_child.Reap();
  // Tell the server to stop, and give it time to.
  stop_w.reset();
  if (!server_child.done() && trouble.empty()) {
    struct pollfd fds[1] = {{server_child.pidfd(), POLLIN, 0}};
    if (WaitReadable(fds, 1, options.stop_grace) <= 0) {
      trouble = absl::StrCat("the server did not stop within ",
                             absl::FormatDuration(options.stop_grace));
    }
  }
  server_child.Kill();
  server_child.Reap();

  // The server's failure explains the client's, so it comes first.
  Measurement server_result, client_result;
  const bool server_left = Load(slots.server(), &server_result);
  if (server_left && !server_result.error().empty()) {
    failed.set_error(absl::StrCat("server: ", server_result.error()));
    return failed;
  }
  if (!server_left && trouble.empty()) {
    failed.set_error(absl::StrCat("server ", Describe(server_child.wstatus())));
    return failed;
  }
  if (!trouble.empty()) {
    failed.set_error(trouble);
    return failed;
  }
  if (!Load(slots.client(), &client_result)) {
    failed.set_error(absl::StrCat("client ", Describe(client_child.wstatus())));
    return failed;
  }
  return client_result;
}

}  // namespace bench
