// UvTimer: a one-shot Timer (meshd/client/broker.h) on a libuv loop.
//
// The uv_timer_t lives on the heap and is closed asynchronously, so a
// UvTimer may be destroyed at any time, even from inside its own callback.
#ifndef MESHD_UV_TIMER_H_
#define MESHD_UV_TIMER_H_

#include <uv.h>

#include <functional>

#include "meshd/client/broker.h"

namespace meshd {

class UvTimer : public Timer {
 public:
  explicit UvTimer(uv_loop_t* loop);
  ~UvTimer() override;
  void Start(uint64_t ms, std::function<void()> fn) override;
  void Cancel() override;

 private:
  struct Handle {
    uv_timer_t timer;
    std::function<void()> fn;
  };
  Handle* h_;
};

// A TimerFactory making UvTimers on LOOP.
TimerFactory UvTimers(uv_loop_t* loop);

}  // namespace meshd

#endif  // MESHD_UV_TIMER_H_
