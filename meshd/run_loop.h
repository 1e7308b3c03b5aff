// meshd's event loop driver: uv_run(UV_RUN_DEFAULT), with adaptive busy
// polling.
//
// A remote round trip wakes each meshd on its path twice; on a machine
// where a wake-up is dear (a halted vCPU costs an IPI and a VM exit, 5-10 µs
// and more) that is most of the round trip. So after handling an event a
// meshd keeps polling its sockets for a while, without sleeping, and the
// reply it is about to forward finds it awake. How long is learned, as
// KVM's halt polling learns it: the window grows when meshd went to sleep
// and was woken soon after (a longer poll would have saved that wake-up),
// and shrinks when it slept longer than any window allowed would have
// covered. Sparse traffic and idle time thus cost no polling at all; steady
// traffic costs up to a CPU per meshd. Between polls meshd yields the CPU,
// so a runnable process on the same CPU (the very client or service it is
// waiting for) runs first.
#ifndef MESHD_RUN_LOOP_H_
#define MESHD_RUN_LOOP_H_

#include <algorithm>
#include <cstdint>
#include <functional>

#include <uv.h>

namespace meshd {

// The learned polling window (the policy alone, no clock: unit-testable).
class PollWindow {
 public:
  // The window's first step and the smallest it ever is besides 0.
  static constexpr uint64_t kStartNs = 10'000;

  // MAX_NS: the most the window ever is (0: never poll).
  explicit PollWindow(uint64_t max_ns) : max_ns_(max_ns) {}

  // How long to keep polling after the last event, in ns.
  uint64_t ns() const { return ns_; }
  uint64_t max_ns() const { return max_ns_; }
  // A new ceiling (0: never poll); the window shrinks to it at once.
  void set_max_ns(uint64_t max_ns) {
    max_ns_ = max_ns;
    ns_ = std::min(ns_, max_ns_);
  }

  // The loop polled ns() in vain, then slept SLEPT_NS until its next
  // event. Grows the window (doubling, from kStartNs) if a window of at
  // most max_ns() would have caught that event; otherwise halves it (to 0
  // below kStartNs).
  void Slept(uint64_t slept_ns);

 private:
  uint64_t max_ns_;
  uint64_t ns_ = 0;
};

// What the loop did, for the admin API's counters. Read on the loop's
// thread only (the admin API's calls run on the loop).
struct RunLoopStats {
  uint64_t poll_ns = 0;    // the window now
  uint64_t hits = 0;       // events found while polling: wake-ups saved
  uint64_t misses = 0;     // windows that ran out: the loop went to sleep
  uint64_t polled_ns = 0;  // time spent polling with nothing to do
};

// Runs LOOP until it has no active handles left (as uv_run(LOOP,
// UV_RUN_DEFAULT) does). MAX_POLL_US == 0: exactly that. Otherwise, once an
// event was handled the loop keeps running without blocking (UV_RUN_NOWAIT
// whenever the loop has something to do, sched_yield() between checks)
// until a PollWindow's worth of time has passed with nothing to do; the
// window adapts between 0 and MAX_POLL_US. STATS, if not null, is kept up
// to date.
void RunLoop(uv_loop_t* loop, uint32_t max_poll_us, RunLoopStats* stats = nullptr);

// The same with the ceiling read from *MAX_POLL_US each time the loop
// wakes, so that a callback on LOOP may change it (meshd's SIGHUP reload):
// 0 stops polling once the current window has run out; a ceiling above 0
// starts it.
//
// WORK, if set, is a count that moves whenever the program handled
// something (meshd: messages relayed, frames in and out): a turn of the
// loop that moved it counts as an event found. Each poll then costs one
// system call (the loop's own epoll_wait) instead of two, and a message
// found by polling is read a system call sooner. Unset: a turn counts if
// the loop had something pending before it (a poll() of its epoll fd).
void RunLoop(uv_loop_t* loop, const uint32_t* max_poll_us, RunLoopStats* stats = nullptr,
             std::function<uint64_t()> work = nullptr);

}  // namespace meshd

#endif  // MESHD_RUN_LOOP_H_
