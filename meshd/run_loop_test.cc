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
  explicit Runner(uint32_t busy_poll_us, RunLoopStats* stats = nullptr) {
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
    thread_ = std::thread([this, busy_poll_us, stats] {
      RunLoop(&loop_, busy_poll_us, stats);
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

TEST(PollWindowTest, StartsClosedAndGrowsWhileWakeUpsComeSoon) {
  PollWindow w(200'000);
  EXPECT_EQ(w.ns(), 0u);
  w.Slept(30'000);  // a 10 µs window would not have caught it; a 200 µs one would
  EXPECT_EQ(w.ns(), PollWindow::kStartNs);
  w.Slept(25'000);
  EXPECT_EQ(w.ns(), 2 * PollWindow::kStartNs);
  w.Slept(5'000);
  w.Slept(5'000);
  EXPECT_EQ(w.ns(), 8 * PollWindow::kStartNs);
  for (int i = 0; i < 10; i++) w.Slept(1'000);
  EXPECT_EQ(w.ns(), 200'000u);  // never past the ceiling
}

TEST(PollWindowTest, ShrinksToZeroWhenNoWindowWouldHaveCaughtTheEvent) {
  PollWindow w(200'000);
  for (int i = 0; i < 10; i++) w.Slept(0);
  ASSERT_EQ(w.ns(), 200'000u);
  w.Slept(1'000);  // 200 + 1 µs: more than the ceiling
  EXPECT_EQ(w.ns(), 100'000u);
  w.Slept(150'000);  // 100 + 150 µs
  EXPECT_EQ(w.ns(), 50'000u);
  w.Slept(1'000'000'000);
  w.Slept(1'000'000'000);
  EXPECT_EQ(w.ns(), 12'500u);
  w.Slept(1'000'000'000);
  EXPECT_EQ(w.ns(), 0u);  // below the first step: off until wake-ups come soon again
  w.Slept(1'000'000'000);
  EXPECT_EQ(w.ns(), 0u);
  w.Slept(100'000);
  EXPECT_EQ(w.ns(), PollWindow::kStartNs);
}

TEST(PollWindowTest, ZeroCeilingNeverPolls) {
  PollWindow w(0);
  for (int i = 0; i < 10; i++) w.Slept(0);
  EXPECT_EQ(w.ns(), 0u);
}

TEST(PollWindowTest, CeilingBelowTheFirstStep) {
  PollWindow w(3'000);
  w.Slept(1'000);
  EXPECT_EQ(w.ns(), 3'000u);
  w.Slept(1'000);  // 3 + 1 µs
  EXPECT_EQ(w.ns(), 0u);
}

TEST(RunLoopTest, WithoutBusyPollingHandlesEventsAndReturnsWhenIdle) {
  Runner r(0);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_EQ(r.handled(), 20);
  EXPECT_TRUE(r.Stop());
}

TEST(RunLoopTest, BusyPollingHandlesEventsInAndAfterTheWindow) {
  // A 2 ms ceiling: pokes in quick succession land while it polls; the one
  // after a pause longer than any window finds the loop asleep again.
  Runner r(2000);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the window (not a sync)
  ASSERT_TRUE(r.Poke());
  EXPECT_EQ(r.handled(), 21);
  EXPECT_TRUE(r.Stop());
}

TEST(RunLoopTest, EventsInQuickSuccessionAreFoundByPolling) {
  // Each poke follows the last one's handling at once (a thread wake-up
  // later, far less than the 100 ms ceiling): the window grows past the
  // gap and later pokes are found by polling instead of waking the loop.
  RunLoopStats stats;
  Runner r(100'000, &stats);
  for (int i = 0; i < 200; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_TRUE(r.Stop());  // joined: stats are safe to read
  EXPECT_EQ(r.handled(), 200);
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.poll_ns, 0u);
}

TEST(RunLoopTest, BusyPollingReturnsWhenTheLastHandleClosesMidWindow) {
  Runner r(1000000);  // a ceiling of a second: the close comes inside a window
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_TRUE(r.Stop());
}

}  // namespace
}  // namespace meshd
