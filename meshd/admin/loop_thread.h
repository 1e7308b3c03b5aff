// LoopThread (tests only): a libuv loop running on its own thread, with a
// LoopExecutor on it, standing in for meshd's loop.
//
//   meshd::admin::LoopThread lt;
//   absl::StatusOr<int> v = lt.executor()->Call<int>(deadline, [] { return 7; });
//   lt.Stop();  // or let the destructor do it
#ifndef MESHD_ADMIN_LOOP_THREAD_H_
#define MESHD_ADMIN_LOOP_THREAD_H_

#include <uv.h>

#include <memory>
#include <thread>

#include "meshd/admin/loop_executor.h"

namespace meshd {
namespace admin {

class LoopThread {
 public:
  // Starts the loop thread with an executor built with OPTIONS.
  explicit LoopThread(LoopExecutor::Options options = LoopExecutor::Options());
  // Stop()s if needed.
  ~LoopThread();

  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  uv_loop_t* loop() { return &loop_; }
  LoopExecutor* executor() { return executor_.get(); }
  // The loop thread's id.
  std::thread::id loop_thread_id() const { return thread_.get_id(); }

  // On the loop: Shutdown() the executor and close every handle; then joins
  // the thread and closes the loop (aborting if a handle was left open).
  // The executor object stays (shut down) until the LoopThread is
  // destroyed, so servers holding it may still be stopped. Idempotent.
  void Stop();

 private:
  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<LoopExecutor> executor_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace admin
}  // namespace meshd

#endif  // MESHD_ADMIN_LOOP_THREAD_H_
