#include "common/status_macros.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace common {
namespace {

// Counts evaluations, to show each macro evaluates its argument once.
struct Counter {
  int calls = 0;
  absl::Status Status(absl::Status s) {
    ++calls;
    return s;
  }
  absl::StatusOr<int> Int(absl::StatusOr<int> v) {
    ++calls;
    return v;
  }
};

absl::Status ReturnIfError(Counter& c, absl::Status s, bool* reached_end) {
  RETURN_IF_ERROR(c.Status(s));
  *reached_end = true;
  return absl::OkStatus();
}

TEST(ReturnIfErrorTest, OkContinues) {
  Counter c;
  bool reached_end = false;
  EXPECT_TRUE(ReturnIfError(c, absl::OkStatus(), &reached_end).ok());
  EXPECT_TRUE(reached_end);
  EXPECT_EQ(c.calls, 1);
}

TEST(ReturnIfErrorTest, ErrorReturnsIt) {
  Counter c;
  bool reached_end = false;
  absl::Status s =
      ReturnIfError(c, absl::NotFoundError("no such thing"), &reached_end);
  EXPECT_EQ(s, absl::NotFoundError("no such thing"));
  EXPECT_FALSE(reached_end);
  EXPECT_EQ(c.calls, 1);
}

absl::StatusOr<int> ReturnIfErrorInStatusOr(absl::Status s) {
  RETURN_IF_ERROR(s);
  return 7;
}

TEST(ReturnIfErrorTest, WorksInFunctionReturningStatusOr) {
  EXPECT_EQ(*ReturnIfErrorInStatusOr(absl::OkStatus()), 7);
  EXPECT_EQ(ReturnIfErrorInStatusOr(absl::InternalError("x")).status(),
            absl::InternalError("x"));
}

absl::Status ReturnIfErrorUnbracedIf(bool check, absl::Status s) {
  if (check)
    RETURN_IF_ERROR(s);
  else
    return absl::CancelledError("else branch");
  return absl::OkStatus();
}

TEST(ReturnIfErrorTest, IsOneStatement) {
  EXPECT_TRUE(ReturnIfErrorUnbracedIf(true, absl::OkStatus()).ok());
  EXPECT_EQ(ReturnIfErrorUnbracedIf(true, absl::AbortedError("a")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(ReturnIfErrorUnbracedIf(false, absl::OkStatus()).code(),
            absl::StatusCode::kCancelled);
}

absl::StatusOr<int> Doubled(Counter& c, absl::StatusOr<int> v) {
  ASSIGN_OR_RETURN(int x, c.Int(std::move(v)));
  return 2 * x;
}

TEST(AssignOrReturnTest, DeclaresAndAssigns) {
  Counter c;
  EXPECT_EQ(*Doubled(c, 21), 42);
  EXPECT_EQ(c.calls, 1);
}

TEST(AssignOrReturnTest, ErrorReturnsIt) {
  Counter c;
  EXPECT_EQ(Doubled(c, absl::OutOfRangeError("too big")).status(),
            absl::OutOfRangeError("too big"));
  EXPECT_EQ(c.calls, 1);
}

absl::Status AssignExisting(absl::StatusOr<std::string> v, std::string* out) {
  ASSIGN_OR_RETURN(*out, std::move(v));
  return absl::OkStatus();
}

TEST(AssignOrReturnTest, AssignsToExistingLvalueInStatusFunction) {
  std::string out = "unchanged";
  EXPECT_TRUE(AssignExisting(std::string("hello"), &out).ok());
  EXPECT_EQ(out, "hello");
  out = "unchanged";
  EXPECT_EQ(AssignExisting(absl::UnavailableError("u"), &out).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(out, "unchanged");
}

absl::StatusOr<std::unique_ptr<int>> MakeBox(int v) {
  if (v < 0) return absl::InvalidArgumentError("negative");
  return std::make_unique<int>(v);
}

absl::StatusOr<int> SumOfBoxes(int a, int b) {
  // Two uses in one function, on different lines, with a move-only type.
  ASSIGN_OR_RETURN(std::unique_ptr<int> x, MakeBox(a));
  ASSIGN_OR_RETURN(auto y, MakeBox(b));
  return *x + *y;
}

TEST(AssignOrReturnTest, MoveOnlyAndRepeated) {
  EXPECT_EQ(*SumOfBoxes(2, 3), 5);
  EXPECT_EQ(SumOfBoxes(2, -3).status(), absl::InvalidArgumentError("negative"));
  EXPECT_EQ(SumOfBoxes(-2, 3).status(), absl::InvalidArgumentError("negative"));
}

}  // namespace
}  // namespace common
