#include "meshd/admin/loop_executor.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>

namespace meshd {
namespace admin {

LoopExecutor::LoopExecutor(uv_loop_t* loop, Options options)
    : loop_(loop), options_(options), async_(new uv_async_t) {
  const int r = uv_async_init(loop_, async_, &LoopExecutor::OnAsync);
  if (r != 0) {
    // Only fails on an invalid loop: a programming error.
    fprintf(stderr, "LoopExecutor: uv_async_init: %s\n", uv_strerror(r));
    abort();
  }
  async_->data = this;
}

LoopExecutor::~LoopExecutor() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!shut_down_) {
    fprintf(stderr, "LoopExecutor destroyed without Shutdown()\n");
    abort();
  }
}

absl::Status LoopExecutor::Enqueue(std::shared_ptr<executor_internal::CompletionBase> c,
                                   std::function<void()> run) {
  if (loop_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    fprintf(stderr, "LoopExecutor: a call from the loop thread would wait forever\n");
    abort();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return absl::UnavailableError("meshd is stopping");
  if (queue_.size() >= std::max<size_t>(1, options_.max_queued)) {
    return absl::ResourceExhaustedError("too many admin calls are waiting for meshd's event loop");
  }
  if (pending_.size() >= prune_at_) {
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [](const std::weak_ptr<executor_internal::CompletionBase>& w) {
                                    auto p = w.lock();
                                    return p == nullptr || p->ended();
                                  }),
                   pending_.end());
    prune_at_ = std::max<size_t>(64, 2 * pending_.size());
  }
  pending_.push_back(c);
  queue_.push_back(Job{c, std::move(run)});
  // Under the lock: Shutdown() closes the handle under it too, so a send
  // never races the close.
  uv_async_send(async_);
  return absl::OkStatus();
}

void LoopExecutor::OnAsync(uv_async_t* handle) {
  static_cast<LoopExecutor*>(handle->data)->RunQueued();
}

void LoopExecutor::RunQueued() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  std::deque<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    jobs.swap(queue_);
  }
  // Bounded by max_queued: the queue was at most that long.
  for (Job& job : jobs) {
    // The caller may have given up (deadline) or the executor shut down
    // from inside an earlier job.
    if (shut_down()) break;
    auto c = job.completion.lock();
    if (c == nullptr || c->ended()) continue;
    job.run();
  }
}

void LoopExecutor::Shutdown() {
  std::vector<std::weak_ptr<executor_internal::CompletionBase>> pending;
  std::deque<Job> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    pending.swap(pending_);
    queued.swap(queue_);
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    async_ = nullptr;
  }
  shutdown_cv_.notify_all();
  // Outside the lock: failing wakes callers, which may call in again.
  for (auto& w : pending) {
    if (auto c = w.lock()) c->Fail(absl::UnavailableError("meshd is stopping"));
  }
  // Jobs are destroyed here, on the loop thread, with whatever they hold.
  queued.clear();
}

bool LoopExecutor::shut_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shut_down_;
}

size_t LoopExecutor::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool LoopExecutor::WaitForShutdown(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (!shut_down_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    shutdown_cv_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, absl::Minutes(1))));
  }
  return shut_down_;
}

}  // namespace admin
}  // namespace meshd
