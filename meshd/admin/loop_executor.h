// LoopExecutor: lets other threads (gRPC's, the metrics server's) run a
// function on meshd's libuv loop and wait for its result, with a deadline.
//
//   // On the loop thread (or before uv_run):
//   meshd::admin::LoopExecutor executor(&loop);
//   ...
//   // On any other thread:
//   absl::StatusOr<int> n = executor.Call<int>(
//       absl::Now() + absl::Seconds(2),
//       [&]() -> absl::StatusOr<int> { return broker->session_count(); });
//
//   // An asynchronous operation: START runs on the loop and hands DONE to
//   // something that calls it later, once, on the loop thread.
//   absl::StatusOr<absl::Duration> rtt = executor.CallAsync<absl::Duration>(
//       deadline, [&](LoopExecutor::Done<absl::Duration> done) {
//         mesh->Ping(node, std::move(done), absl::Seconds(1));
//       });
//
//   // On the loop thread, when meshd stops:
//   executor.Shutdown();
//
// The loop never blocks: callers queue a job under a mutex and wake the loop
// with uv_async_send; the loop runs queued jobs from the async callback and
// hands results back through a per-call completion that the caller waits on.
// Only the calling thread waits.
//
// Guarantees:
//   - A call whose deadline passes returns DeadlineExceeded. If its job had
//     not started by then, it never runs; if it had, the caller still waits
//     for the function itself to return (so it may use the caller's
//     locals), and an asynchronous result that arrives later is dropped.
//   - At most `max_queued` jobs wait for the loop; more calls fail at once
//     with ResourceExhausted.
//   - Shutdown() fails every pending call (queued, or started and not yet
//     done) at once with Unavailable, and every later call too. DONE
//     callbacks that run after that are ignored, so the backend may still
//     call them (e.g. while it stops).
//   - Calling Call/CallAsync from the loop thread itself would wait for the
//     loop forever: it aborts the process (a programming error).
#ifndef MESHD_ADMIN_LOOP_EXECUTOR_H_
#define MESHD_ADMIN_LOOP_EXECUTOR_H_

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshd {
namespace admin {

namespace executor_internal {

// The shared state of one call: the caller waits on it, the loop finishes
// it. It ends exactly once: with the result, or with an error (deadline,
// shutdown); whatever comes second is ignored. While its START function
// runs on the loop, the caller does not return, even past the deadline, so
// START may use the caller's locals.
class CompletionBase {
 public:
  virtual ~CompletionBase() = default;
  // Ends the call with STATUS (not ok) unless it has ended. Any thread.
  virtual void Fail(absl::Status status) = 0;
  // True once the call has ended. Any thread.
  virtual bool ended() const = 0;
};

template <typename T>
class Completion : public CompletionBase {
 public:
  // Ends the call with RESULT unless it has ended. Any thread.
  void Finish(absl::StatusOr<T> result) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_) return;
      result_ = std::move(result);
      ended_ = true;
    }
    cv_.notify_all();
  }
  void Fail(absl::Status status) override { Finish(std::move(status)); }
  bool ended() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  // The loop is about to run START: returns false (do not run it) if the
  // call has ended already, else marks it running.
  bool BeginRun() {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return false;
    running_ = true;
    return true;
  }
  // START has returned.
  void EndRun() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
    }
    cv_.notify_all();
  }
  // Waits until the call ends or DEADLINE passes, and START is not
  // running; then ends the call (with DeadlineExceeded if it had not
  // ended) and returns its result.
  absl::StatusOr<T> Wait(absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    while (running_ || !ended_) {
      const absl::Duration left = deadline - absl::Now();
      if (!running_ && left <= absl::ZeroDuration()) break;
      // Slices of at most a second: absl::InfiniteFuture() must not
      // overflow the clock, and a START running past the deadline is
      // waited for (it does not block, by contract).
      const absl::Duration slice =
          std::max(absl::Milliseconds(1), std::min(left, absl::Seconds(1)));
      cv_.wait_for(lock, absl::ToChronoNanoseconds(slice));
    }
    if (!ended_) {
      ended_ = true;
      result_ = absl::DeadlineExceededError("meshd's event loop did not answer in time");
    }
    return std::move(result_);
  }

 private:
  // std::mutex, not absl::Mutex: ThreadSanitizer understands it (Debian's
  // Abseil is not instrumented).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<T> result_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("not run");
};

}  // namespace executor_internal

class LoopExecutor {
 public:
  struct Options {
    // Jobs waiting for the loop at once; 1 or more.
    size_t max_queued = 256;
  };

  // The completion callback of an asynchronous call. Call it once, on the
  // loop thread (calls after the first, or after the call has ended, are
  // ignored). Copyable; it keeps only the call's own state alive, never the
  // executor, so it may outlive the executor.
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;

  // Registers a uv_async_t on LOOP. Call on the loop thread, or before the
  // loop runs. LOOP must outlive the executor. The handle keeps the loop
  // alive until Shutdown().
  explicit LoopExecutor(uv_loop_t* loop) : LoopExecutor(loop, Options()) {}
  LoopExecutor(uv_loop_t* loop, Options options);
  // Requires Shutdown() and, after it, a loop run that closed the handle
  // (uv_run returning because the loop has no more handles is enough), or
  // that the loop was never run. Aborts if Shutdown() was not called.
  ~LoopExecutor();

  LoopExecutor(const LoopExecutor&) = delete;
  LoopExecutor& operator=(const LoopExecutor&) = delete;

  // Runs FN on the loop thread and returns its result, or DeadlineExceeded
  // if it had not returned by DEADLINE, Unavailable if the executor is shut
  // down (or shuts down while waiting), ResourceExhausted if max_queued
  // jobs are waiting already. Any thread but the loop's. FN must not block.
  template <typename T>
  absl::StatusOr<T> Call(absl::Time deadline, std::function<absl::StatusOr<T>()> fn) {
    return CallAsync<T>(deadline, [fn = std::move(fn)](Done<T> done) { done(fn()); });
  }

  // Runs START(done) on the loop thread; the call ends when DONE is called
  // (with its argument as the result), when DEADLINE passes
  // (DeadlineExceeded), or at Shutdown() (Unavailable). Errors as for
  // Call(). Any thread but the loop's. START must not block.
  template <typename T>
  absl::StatusOr<T> CallAsync(absl::Time deadline, std::function<void(Done<T>)> start) {
    auto c = std::make_shared<executor_internal::Completion<T>>();
    absl::Status queued = Enqueue(c, [c, start = std::move(start)]() {
      if (!c->BeginRun()) return;  // deadline passed while queued: skip
      start(Done<T>([c](absl::StatusOr<T> r) { c->Finish(std::move(r)); }));
      c->EndRun();
    });
    if (!queued.ok()) return queued;
    return c->Wait(deadline);
  }

  // Fails every pending call and every later one with Unavailable, and
  // closes the async handle (the loop may then end). Loop thread only.
  // Idempotent.
  void Shutdown();

  // True after Shutdown(). Any thread.
  bool shut_down() const;

  // Jobs waiting for the loop now (not yet started). Any thread.
  size_t queued() const;

  // Waits until Shutdown() or TIMEOUT has passed, whichever is first;
  // returns true if shut down. For threads that pace their work (e.g. the
  // interval between pings) and must stop promptly. Any thread.
  bool WaitForShutdown(absl::Duration timeout) const;

 private:
  struct Job {
    std::weak_ptr<executor_internal::CompletionBase> completion;
    std::function<void()> run;
  };

  absl::Status Enqueue(std::shared_ptr<executor_internal::CompletionBase> c,
                       std::function<void()> run);
  static void OnAsync(uv_async_t* handle);
  void RunQueued();

  uv_loop_t* const loop_;
  const Options options_;
  uv_async_t* async_;  // heap: closed asynchronously, freed in its close callback
  std::atomic<std::thread::id> loop_thread_{};

  mutable std::mutex mu_;
  mutable std::condition_variable shutdown_cv_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  // Calls that may still be pending (queued or started), for Shutdown().
  // Expired entries are pruned as it grows.
  std::vector<std::weak_ptr<executor_internal::CompletionBase>> pending_ ABSL_GUARDED_BY(mu_);
  size_t prune_at_ ABSL_GUARDED_BY(mu_) = 64;
};

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_LOOP_EXECUTOR_H_
