#include "meshd/admin/loop_thread.h"

#include <stdio.h>
#include <stdlib.h>

namespace meshd {
namespace admin {

LoopThread::LoopThread(LoopExecutor::Options options) {
  uv_loop_init(&loop_);
  executor_ = std::make_unique<LoopExecutor>(&loop_, options);
  uv_async_init(&loop_, &stop_, [](uv_async_t* h) {
    auto* self = static_cast<LoopThread*>(h->data);
    self->executor_->Shutdown();
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  });
  stop_.data = this;
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

LoopThread::~LoopThread() {
  Stop();
  executor_.reset();
}

void LoopThread::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uv_async_send(&stop_);
  thread_.join();
  if (uv_loop_close(&loop_) != 0) {
    fprintf(stderr, "LoopThread: a handle was left open on the loop\n");
    abort();
  }
}

}  // namespace admin
}  // namespace meshd
