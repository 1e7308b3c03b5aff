#include "common/status.h"

#include <errno.h>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace common {
namespace {

TEST(ErrnoToStatusTest, ZeroIsOk) {
  EXPECT_TRUE(ErrnoToStatus(0, "open x").ok());
}

TEST(ErrnoToStatusTest, CodeAndMessage) {
  absl::Status s = ErrnoToStatus(ENOENT, "open /etc/meshd.conf");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "open /etc/meshd.conf: No such file or directory");
}

TEST(ErrnoToStatusTest, EmptyWhatIsJustStrerror) {
  absl::Status s = ErrnoToStatus(EACCES, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "Permission denied");
}

TEST(ErrnoToStatusTest, Codes) {
  struct Case {
    int err;
    absl::StatusCode code;
  } cases[] = {
      {EINVAL, absl::StatusCode::kInvalidArgument},
      {ENAMETOOLONG, absl::StatusCode::kInvalidArgument},
      {ENOENT, absl::StatusCode::kNotFound},
      {EEXIST, absl::StatusCode::kAlreadyExists},
      {EPERM, absl::StatusCode::kPermissionDenied},
      {EACCES, absl::StatusCode::kPermissionDenied},
      {ETIMEDOUT, absl::StatusCode::kDeadlineExceeded},
      {EAGAIN, absl::StatusCode::kUnavailable},
      {ECONNREFUSED, absl::StatusCode::kUnavailable},
      {EHOSTUNREACH, absl::StatusCode::kUnavailable},
      {EADDRINUSE, absl::StatusCode::kFailedPrecondition},
      {EPIPE, absl::StatusCode::kFailedPrecondition},
      {ENOMEM, absl::StatusCode::kResourceExhausted},
      {EMFILE, absl::StatusCode::kResourceExhausted},
      {EFBIG, absl::StatusCode::kOutOfRange},
      {ENOSYS, absl::StatusCode::kUnimplemented},
      {ECANCELED, absl::StatusCode::kCancelled},
      {12345, absl::StatusCode::kUnknown},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrnoToStatus(c.err, "x").code(), c.code) << "errno " << c.err;
  }
}

TEST(StatusToErrnoTest, RoundTripsExactErrno) {
  for (int err : {EINVAL, ENOENT, EPERM, EACCES, ECONNRESET, EHOSTUNREACH,
                  ECONNABORTED, EADDRINUSE, EFBIG, ENOSPC, 12345}) {
    EXPECT_EQ(StatusToErrno(ErrnoToStatus(err, "op")), err);
  }
}

TEST(StatusToErrnoTest, OkIsZero) {
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
}

TEST(StatusToErrnoTest, FromCodes) {
  EXPECT_EQ(StatusToErrno(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(StatusToErrno(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(StatusToErrno(absl::AlreadyExistsError("x")), EEXIST);
  EXPECT_EQ(StatusToErrno(absl::PermissionDeniedError("x")), EACCES);
  EXPECT_EQ(StatusToErrno(absl::DeadlineExceededError("x")), ETIMEDOUT);
  EXPECT_EQ(StatusToErrno(absl::ResourceExhaustedError("x")), EAGAIN);
  EXPECT_EQ(StatusToErrno(absl::OutOfRangeError("x")), ERANGE);
  EXPECT_EQ(StatusToErrno(absl::UnimplementedError("x")), EOPNOTSUPP);
  EXPECT_EQ(StatusToErrno(absl::InternalError("x")), EIO);
  EXPECT_EQ(StatusToErrno(absl::UnknownError("x")), EIO);
}

TEST(AnnotateTest, PrependsContextKeepsCodeAndErrno) {
  absl::Status s = Annotate(ErrnoToStatus(ENOENT, "open /k"), "cluster key");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cluster key: open /k: No such file or directory");
  EXPECT_EQ(StatusToErrno(s), ENOENT);
}

TEST(AnnotateTest, OkAndEmptyContextUnchanged) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ctx").ok());
  absl::Status s = absl::InternalError("boom");
  EXPECT_EQ(Annotate(s, ""), s);
}

}  // namespace
}  // namespace common
