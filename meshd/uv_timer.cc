#include "meshd/uv_timer.h"

namespace meshd {

UvTimer::UvTimer(uv_loop_t* loop) : h_(new Handle) {
  uv_timer_init(loop, &h_->timer);
  h_->timer.data = h_;
}

UvTimer::~UvTimer() {
  uv_timer_stop(&h_->timer);
  h_->fn = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&h_->timer),
           [](uv_handle_t* t) { delete static_cast<Handle*>(t->data); });
}

void UvTimer::Start(uint64_t ms, std::function<void()> fn) {
  h_->fn = std::move(fn);
  uv_timer_start(
      &h_->timer,
      [](uv_timer_t* t) {
        auto* h = static_cast<Handle*>(t->data);
        // Moved out first: the callback may destroy the UvTimer.
        auto fn = std::move(h->fn);
        h->fn = nullptr;
        if (fn) fn();
      },
      ms, 0);
}

void UvTimer::Cancel() {
  uv_timer_stop(&h_->timer);
  h_->fn = nullptr;
}

TimerFactory UvTimers(uv_loop_t* loop) {
  return [loop] { return std::unique_ptr<Timer>(new UvTimer(loop)); };
}

}  // namespace meshd
