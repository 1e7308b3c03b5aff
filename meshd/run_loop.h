// meshd's event loop driver: uv_run(UV_RUN_DEFAULT), optionally busy
// polling after each wake-up.
//
// A remote round trip wakes each meshd on its path twice; on a machine
// where a wake-up is dear (a halted vCPU costs an IPI and a VM exit) that is
// most of the round trip. With busy polling, a meshd that has just handled
// an event keeps polling its sockets without sleeping for a while, so the
// reply it is about to forward finds it awake. The price is CPU: up to one
// CPU per meshd while traffic flows (none once it has been idle for the
// window). Between polls it yields the CPU, so a runnable process on the
// same CPU (the very client or service it is waiting for) runs first.
#ifndef MESHD_RUN_LOOP_H_
#define MESHD_RUN_LOOP_H_

#include <cstdint>

#include <uv.h>

namespace meshd {

// Runs LOOP until it has no active handles left (as uv_run(LOOP,
// UV_RUN_DEFAULT) does). BUSY_POLL_US == 0: exactly that. Otherwise, after
// each wake-up the loop runs without blocking (UV_RUN_NOWAIT, then
// sched_yield()) for BUSY_POLL_US microseconds before it blocks again.
void RunLoop(uv_loop_t* loop, uint32_t busy_poll_us);

}  // namespace meshd

#endif  // MESHD_RUN_LOOP_H_
