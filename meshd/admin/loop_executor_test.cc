#include "meshd/admin/loop_executor.h"

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "meshd/admin/loop_thread.h"

namespace meshd {
namespace admin {
namespace {

constexpr absl::Duration kLong = absl::Seconds(30);  // "never" for a test

// Waits (bounded) until PRED holds; returns whether it did.
template <typename Pred>
bool WaitUntil(Pred pred, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (!pred()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(LoopExecutorTest, CallRunsOnTheLoopThreadAndReturnsItsResult) {
  LoopThread lt;
  std::thread::id ran_on;
  absl::StatusOr<std::string> r = lt.executor()->Call<std::string>(
      absl::Now() + kLong, [&]() -> absl::StatusOr<std::string> {
        ran_on = std::this_thread::get_id();
        return std::string("hello");
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "hello");
  EXPECT_EQ(ran_on, lt.loop_thread_id());
}

TEST(LoopExecutorTest, ErrorsFromTheFunctionAreReturned) {
  LoopThread lt;
  absl::StatusOr<int> r = lt.executor()->Call<int>(
      absl::Now() + kLong, []() -> absl::StatusOr<int> { return absl::NotFoundError("nope"); });
  EXPECT_EQ(r.status(), absl::NotFoundError("nope"));
}

TEST(LoopExecutorTest, ManyThreadsAtOnce) {
  LoopExecutor::Options o;
  o.max_queued = 1024;
  LoopThread lt(o);
  int counter = 0;  // only touched on the loop thread
  constexpr int kThreads = 8, kCalls = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; i++) {
        absl::StatusOr<int> r = lt.executor()->Call<int>(
            absl::Now() + kLong, [&, t, i]() -> absl::StatusOr<int> {
              counter++;
              return t * 100000 + i;
            });
        if (r.ok() && *r == t * 100000 + i) ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
  absl::StatusOr<int> total =
      lt.executor()->Call<int>(absl::Now() + kLong, [&]() -> absl::StatusOr<int> { return counter; });
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(*total, kThreads * kCalls);
}

TEST(LoopExecutorTest, DeadlinePassesWhileTheLoopIsBusyAndTheJobNeverRuns) {
  LoopThread lt;
  absl::Notification started, release;
  // Keep the loop busy (a test-only stand-in for a slow loop).
  std::thread busy([&] {
    absl::StatusOr<bool> r = lt.executor()->Call<bool>(absl::Now() + kLong, [&]() -> absl::StatusOr<bool> {
      started.Notify();
      release.WaitForNotification();
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status();
  });
  started.WaitForNotification();
  bool late_ran = false;
  const absl::Time t0 = absl::Now();
  absl::StatusOr<bool> r = lt.executor()->Call<bool>(t0 + absl::Milliseconds(50),
                                                     [&]() -> absl::StatusOr<bool> {
                                                       late_ran = true;
                                                       return true;
                                                     });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(50));
  release.Notify();
  busy.join();
  // A later call is run after the abandoned one would have been.
  absl::StatusOr<bool> ran = lt.executor()->Call<bool>(
      absl::Now() + kLong, [&]() -> absl::StatusOr<bool> { return late_ran; });
  ASSERT_TRUE(ran.ok());
  EXPECT_FALSE(*ran);
}

TEST(LoopExecutorTest, TheCallerWaitsForAFunctionThatStartedBeforeTheDeadline) {
  LoopThread lt;
  absl::Notification started, release;
  std::atomic<bool> returned{false};
  int local = 5;  // the function uses the caller's locals
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  absl::StatusOr<int> r;
  std::thread caller([&] {
    r = lt.executor()->Call<int>(deadline, [&]() -> absl::StatusOr<int> {
      started.Notify();
      release.WaitForNotification();
      return local * 2;
    });
    returned = true;
  });
  started.WaitForNotification();
  ASSERT_TRUE(WaitUntil([&] { return absl::Now() > deadline + absl::Milliseconds(20); }));
  EXPECT_FALSE(returned.load());
  release.Notify();
  caller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 10);
}

TEST(LoopExecutorTest, CallAsyncEndsWhenDoneIsCalledLater) {
  LoopThread lt;
  uv_timer_t timer;
  absl::StatusOr<int> r = lt.executor()->CallAsync<int>(
      absl::Now() + kLong, [&](LoopExecutor::Done<int> done) {
        uv_timer_init(lt.loop(), &timer);
        timer.data = new LoopExecutor::Done<int>(std::move(done));
        uv_timer_start(&timer, [](uv_timer_t* t) {
          auto* d = static_cast<LoopExecutor::Done<int>*>(t->data);
          (*d)(42);
          (*d)(43);  // a second call is ignored
          delete d;
          uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        }, 5, 0);
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
}

TEST(LoopExecutorTest, CallAsyncDeadlineAndALateDoneIsHarmless) {
  LoopThread lt;
  LoopExecutor::Done<int> kept;
  absl::StatusOr<int> r = lt.executor()->CallAsync<int>(
      absl::Now() + absl::Milliseconds(30), [&](LoopExecutor::Done<int> done) { kept = done; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  // Call the abandoned DONE on the loop thread now.
  absl::StatusOr<bool> later = lt.executor()->Call<bool>(absl::Now() + kLong, [&]() -> absl::StatusOr<bool> {
    if (kept) kept(7);  // (unset if the deadline passed before START ran)
    return true;
  });
  EXPECT_TRUE(later.ok());
}

TEST(LoopExecutorTest, ShutdownFailsPendingCallsAtOnceAndLaterCalls) {
  LoopThread lt;
  LoopExecutor::Done<int> kept;
  absl::Notification started;
  absl::StatusOr<int> result = absl::UnknownError("unset");
  std::thread waiter([&] {
    result = lt.executor()->CallAsync<int>(absl::InfiniteFuture(), [&](LoopExecutor::Done<int> done) {
      kept = done;
      started.Notify();
    });
  });
  started.WaitForNotification();
  lt.Stop();  // shuts the executor down on the loop
  waiter.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  kept(1);  // after shutdown (and after the executor is gone): ignored
}

TEST(LoopExecutorTest, CallsAfterShutdownFail) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  LoopExecutor ex(&loop);
  ex.Shutdown();  // the loop is not running: this thread acts as its thread
  EXPECT_TRUE(ex.shut_down());
  EXPECT_TRUE(ex.WaitForShutdown(absl::ZeroDuration()));
  absl::StatusOr<int> r =
      ex.Call<int>(absl::Now() + kLong, []() -> absl::StatusOr<int> { return 1; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  ex.Shutdown();  // idempotent
  uv_run(&loop, UV_RUN_DEFAULT);  // runs the close callback
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(LoopExecutorTest, QueueIsBounded) {
  LoopExecutor::Options o;
  o.max_queued = 2;
  LoopThread lt(o);
  absl::Notification started, release;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    (void)lt.executor()->Call<bool>(absl::Now() + kLong, [&]() -> absl::StatusOr<bool> {
      started.Notify();
      release.WaitForNotification();
      return true;
    });
  });
  started.WaitForNotification();
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; i++) {
    threads.emplace_back([&] {
      auto r = lt.executor()->Call<bool>(absl::Now() + kLong, []() -> absl::StatusOr<bool> { return true; });
      if (r.ok()) ok++;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return lt.executor()->queued() == 2; }));
  absl::StatusOr<bool> over =
      lt.executor()->Call<bool>(absl::Now() + kLong, []() -> absl::StatusOr<bool> { return true; });
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
}

TEST(LoopExecutorTest, WaitForShutdownWakesOnShutdown) {
  // The loop is not running: this thread acts as its thread. (The executor
  // must outlive every waiter, so the waiter is joined before it goes.)
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto ex = std::make_unique<LoopExecutor>(&loop);
  EXPECT_FALSE(ex->WaitForShutdown(absl::Milliseconds(1)));
  std::atomic<bool> woke{false};
  std::thread t([&, e = ex.get()] { woke = e->WaitForShutdown(kLong); });
  ex->Shutdown();
  t.join();
  EXPECT_TRUE(woke.load());
  ex.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(LoopExecutorDeathTest, CallFromTheLoopThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        LoopThread lt;
        LoopExecutor* ex = lt.executor();
        (void)ex->Call<bool>(absl::Now() + kLong, [ex]() -> absl::StatusOr<bool> {
          (void)ex->Call<bool>(absl::Now() + kLong, []() -> absl::StatusOr<bool> { return true; });
          return true;
        });
      },
      "would wait forever");
}

}  // namespace
}  // namespace admin
}  // namespace meshd
