#include "meshd/run_loop.h"

#include <poll.h>
#include <sched.h>

#include <algorithm>

namespace meshd {

void PollWindow::Slept(uint64_t slept_ns) {
  if (max_ns_ == 0) return;
  if (ns_ + slept_ns <= max_ns_) {
    ns_ = std::min(max_ns_, std::max(ns_ * 2, kStartNs));
  } else {
    ns_ /= 2;
    if (ns_ < kStartNs) ns_ = 0;
  }
}

namespace {

// True if running LOOP now would do something: a socket is ready (its
// epoll set has events: the epoll fd itself polls readable), a timer is
// due, or callbacks are pending.
bool HasWork(uv_loop_t* loop, int backend_fd) {
  uv_update_time(loop);
  if (uv_backend_timeout(loop) == 0) return true;
  struct pollfd p = {backend_fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

}  // namespace

void RunLoop(uv_loop_t* loop, uint32_t max_poll_us, RunLoopStats* stats) {
  if (max_poll_us == 0) {
    uv_run(loop, UV_RUN_DEFAULT);
    return;
  }
  RunLoop(loop, &max_poll_us, stats);
}

void RunLoop(uv_loop_t* loop, const uint32_t* max_poll_us, RunLoopStats* stats,
             std::function<uint64_t()> work) {
  RunLoopStats unused;
  RunLoopStats& st = stats != nullptr ? *stats : unused;
  PollWindow window(uint64_t{*max_poll_us} * 1000);
  const int backend_fd = uv_backend_fd(loop);
  for (;;) {
    // Sleep until the next event, and learn from how long that was.
    const uint64_t slept_from = uv_hrtime();
    if (uv_run(loop, UV_RUN_ONCE) == 0) return;
    uint64_t last_event = uv_hrtime();
    // (The event may have been a reload that changed the ceiling.)
    window.set_max_ns(uint64_t{*max_poll_us} * 1000);
    window.Slept(last_event - slept_from);
    st.poll_ns = window.ns();
    // Poll until the window has passed with nothing to do. The loop runs
    // on every turn, work or not: libuv adds the sockets started since its
    // last turn to the epoll set only when it runs.
    uint64_t now = last_event;
    uint64_t seen = work ? work() : 0;
    while (now - last_event < window.ns()) {
      bool found;
      bool alive;
      if (work) {
        alive = uv_run(loop, UV_RUN_NOWAIT) != 0;
        const uint64_t w = work();
        found = w != seen;
        seen = w;
      } else {
        found = HasWork(loop, backend_fd);
        alive = uv_run(loop, UV_RUN_NOWAIT) != 0;
      }
      if (found) {
        st.hits++;
        now = last_event = uv_hrtime();
      } else {
        sched_yield();
        const uint64_t t = uv_hrtime();
        st.polled_ns += t - now;
        now = t;
      }
      if (!alive) return;
    }
    if (window.ns() > 0) st.misses++;
  }
}

}  // namespace meshd
