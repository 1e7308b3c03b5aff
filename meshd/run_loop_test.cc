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
  // What tells RunLoop that a turn did something: the loop's pending
  // events (no WORK), the count of pokes handled, or a count that never
  // moves.
  enum class Work { kPending, kHandled, kNever };

  // LIVE: run RunLoop with a ceiling the loop reads each time it wakes,
  // which SetCeiling changes (on the loop's thread, like meshd's reload).
  explicit Runner(uint32_t busy_poll_us, RunLoopStats* stats = nullptr, bool live = false,
                  Work work = Work::kPending)
      : ceiling_(busy_poll_us), stats_(stats) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      auto* r = static_cast<Runner*>(a->data);
      if (r->stop_) {
        uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
        return;
      }
      if (r->new_ceiling_ >= 0) r->ceiling_ = static_cast<uint32_t>(r->new_ceiling_.exchange(-1));
      if (r->stats_ != nullptr) r->hits_ = r->stats_->hits;
      r->handled_.fetch_add(1);
      r->cv_promise_.set_value();
    });
    async_.data = this;
    thread_ = std::thread([this, busy_poll_us, stats, live, work] {
      if (work == Work::kHandled) {
        RunLoop(&loop_, &ceiling_, stats,
                [this] { return static_cast<uint64_t>(handled_.load()); });
      } else if (work == Work::kNever) {
        RunLoop(&loop_, &ceiling_, stats, [] { return uint64_t{7}; });
      } else if (live) {
        RunLoop(&loop_, &ceiling_, stats);
      } else {
        RunLoop(&loop_, busy_poll_us, stats);
      }
      returned_.set_value();
    });
  }
  // The next Poke() sets the live ceiling to US first.
  void SetCeiling(uint32_t us) { new_ceiling_ = us; }
  // Events found by polling, as of the last Poke() handled.
  uint64_t hits() const { return hits_.load(); }
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
  uint32_t ceiling_;  // (the loop's thread only, once it runs)
  RunLoopStats* stats_;
  std::atomic<int64_t> new_ceiling_{-1};
  std::atomic<uint64_t> hits_{0};
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

TEST(PollWindowTest, NewCeilingTakesEffectAtOnce) {
  PollWindow w(200'000);
  for (int i = 0; i < 10; i++) w.Slept(0);
  ASSERT_EQ(w.ns(), 200'000u);
  w.set_max_ns(50'000);
  EXPECT_EQ(w.ns(), 50'000u);
  w.set_max_ns(0);
  EXPECT_EQ(w.ns(), 0u);
  w.Slept(0);
  EXPECT_EQ(w.ns(), 0u);  // off stays off
  w.set_max_ns(200'000);
  w.Slept(0);
  EXPECT_EQ(w.ns(), PollWindow::kStartNs);  // and on grows from the first step again
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

// 200 pokes in quick succession under a 100 ms ceiling, WORK telling the
// loop what a turn did: what the loop counted. Every poke must be handled.
RunLoopStats PokeInQuickSuccession(Runner::Work work) {
  RunLoopStats stats;
  Runner r(100'000, &stats, /*live=*/false, work);
  int poked = 0;
  while (poked < 200 && r.Poke()) poked++;
  EXPECT_EQ(poked, 200);
  EXPECT_TRUE(r.Stop());  // joined: stats are safe to read
  EXPECT_EQ(r.handled(), 200);
  return stats;
}

TEST(RunLoopTest, AWorkCountDecidesWhatPollingFinds) {
  // The count of pokes handled as WORK: pokes are found by polling, as
  // with the pending-events check.
  EXPECT_GT(PokeInQuickSuccession(Runner::Work::kHandled).hits, 0u);
  // A count that never moves: every poke is still handled, but none counts
  // as found by polling, however soon it comes (the loop's pending events
  // are not what decides any more).
  EXPECT_EQ(PokeInQuickSuccession(Runner::Work::kNever).hits, 0u);
}

TEST(RunLoopTest, TheCeilingChangesWhileTheLoopRuns) {
  // Off: nothing is ever found by polling. Then a ceiling (as a reload
  // sets it, from a callback on the loop): pokes in quick succession are
  // found by polling. Then off again: once the window in progress has run
  // out, pokes wake the loop again. Bounded by deadlines, not sleeps.
  RunLoopStats stats;
  Runner r(0, &stats, /*live=*/true);
  for (int i = 0; i < 100; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_EQ(r.hits(), 0u);
  r.SetCeiling(10'000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (r.hits() == 0) {
    ASSERT_TRUE(r.Poke());
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "polling never started";
  }
  r.SetCeiling(0);
  ASSERT_TRUE(r.Poke());
  int quiet = 0;  // pokes in a row not found by polling
  for (uint64_t last = r.hits(); quiet < 200;) {
    ASSERT_TRUE(r.Poke());
    quiet = r.hits() == last ? quiet + 1 : 0;
    last = r.hits();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "polling never stopped";
  }
  EXPECT_TRUE(r.Stop());
}

TEST(RunLoopTest, BusyPollingReturnsWhenTheLastHandleClosesMidWindow) {
  Runner r(1000000);  // a ceiling of a second: the close comes inside a window
  for (int i = 0; i < 20; i++) ASSERT_TRUE(r.Poke()) << i;
  EXPECT_TRUE(r.Stop());
}

}  // namespace
}  // namespace meshd
