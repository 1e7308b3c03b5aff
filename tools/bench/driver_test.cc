#include "tools/bench/driver.h"

#include <deque>

#include <gtest/gtest.h>

namespace bench {
namespace {

// Answers every request at once, in order.
class InstantClient : public MsgClient {
 public:
  absl::Status Send(uint64_t id) override {
    pending_.push_back(id);
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Receive() override {
    if (pending_.empty()) return absl::FailedPreconditionError("nothing sent");
    const uint64_t id = pending_.front();
    pending_.pop_front();
    return id;
  }

 private:
  std::deque<uint64_t> pending_;
};

TEST(MeasureLatency, BackToBackByDefault) {
  InstantClient c;
  Budget b{{absl::ZeroDuration(), 0}, {absl::Seconds(10), 1000}};
  absl::StatusOr<Measurement> m = MeasureLatency(c, b);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->metrics().at("round_trips"), 1000);
  EXPECT_GT(m->metrics().at("round_trips_per_s"), 10'000);  // no waiting between them
}

TEST(MeasureLatency, PaceSpacesTheRoundTripsOut) {
  // Five round trips, one per 2 ms: the phase lasts at least the four gaps
  // between them (a lower bound, whatever the machine does).
  InstantClient c;
  const absl::Duration pace = absl::Milliseconds(2);
  Budget b{{absl::ZeroDuration(), 0, pace}, {absl::Seconds(10), 5, pace}};
  absl::StatusOr<Measurement> m = MeasureLatency(c, b);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->metrics().at("round_trips"), 5);
  EXPECT_LE(m->metrics().at("round_trips_per_s"), 5 / 0.008);
  EXPECT_LT(m->metrics().at("p50_us"), 2000);  // the wait is not part of a round trip
}

}  // namespace
}  // namespace bench
