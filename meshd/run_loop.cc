#include "meshd/run_loop.h"

#include <sched.h>

namespace meshd {

void RunLoop(uv_loop_t* loop, uint32_t busy_poll_us) {
  if (busy_poll_us == 0) {
    uv_run(loop, UV_RUN_DEFAULT);
    return;
  }
  const uint64_t window_ns = uint64_t{busy_poll_us} * 1000;
  for (;;) {
    if (uv_run(loop, UV_RUN_ONCE) == 0) return;  // blocks for the next event
    const uint64_t until = uv_hrtime() + window_ns;
    while (uv_hrtime() < until) {
      if (uv_run(loop, UV_RUN_NOWAIT) == 0) return;
      sched_yield();
    }
  }
}

}  // namespace meshd
