#include "meshd/run_loop.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace meshd {
namespace {

// A loop with one async handle, run by RunLoop on its own thread: events
// sent from the test thread must each be handled (promptly, whether the
// loop is busy polling or asleep), and the loop must return once the
// handle is closed.
class Runner {
 public:
  explicit Runner(uint32_t busy_poll_us) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      auto* r = static_cast<Runner*>(a->data);
      if (r->stop_) {
        uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
        return;
      }
      r->handled_.fetch_add(1);
      r->cv_promise_.set_value();
    });
    async_.data = this;
    thread_ = std::thread([this, busy_poll_us] {
      RunLoop(&loop_, busy_poll_us);
      returned_.set_value();
    });
  }
  ~Runner() {
    if (thread_.joinable()) thread_.join();
    uv_loop_close(&loop_);
  }
  // Sends one event and waits (bounded) until it was handled.
  bool Poke() {
    cv_promise_ = std::promise<void>();
    auto handled = cv_promise_.get_future();
    uv_async_send(&async_);
    return handled.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  }
  // Closes the handle; true if RunLoop returned (bounded wait).
  bool Stop() {
    auto returned = returned_.get_future();
    stop_ = true;
    uv_async_send(&async_);
    const bool ok = returned.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    if (ok) thread_.join();
    return ok;
  }
  int handled() const { return handled_.load(); }

 private:
  uv_loop_t loop_;
  uv_async_t async_;
  std::atomic<bool> stop_{false};
  std::atomic<int> handled_{0};
  std::promise<void> cv_promise_;
  std::promise<void> returned_;
  std::thread thread_;
};

TEST(RunLoopTest, WithoutBusyPollingHandlesEventsAndReturnsWhenIdle) {
  Runner r(0);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_EQ(r.handled(), 20);
  EXPECT_TRUE(r.Stop());
}

TEST(RunLoopTest, BusyPollingHandlesEventsInAndAfterTheWindow) {
  // A 2 ms window: pokes in quick succession land while it polls; the one
  // after a pause longer than the window finds the loop asleep again.
  Runner r(2000);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the window (not a sync)
  ASSERT_TRUE(r.Poke());
  EXPECT_EQ(r.handled(), 21);
  EXPECT_TRUE(r.Stop());
}

TEST(RunLoopTest, BusyPollingReturnsWhenTheLastHandleClosesMidWindow) {
  Runner r(1000000);  // a window of a second: the close comes inside it
  ASSERT_TRUE(r.Poke());
  EXPECT_TRUE(r.Stop());
}

}  // namespace
}  // namespace meshd
