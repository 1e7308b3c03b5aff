#include "common/status.h"

#include <errno.h>
#include <string.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace common {
namespace {

// The payload that carries the errno given to ErrnoToStatus(), as decimal.
constexpr char kErrnoPayload[] = "type.syslink.dev/errno";

// strerror_r comes in two flavours; both overloads turn its result into text.
[[maybe_unused]] const char* StrErrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "Unknown error";
}
[[maybe_unused]] const char* StrErrorResult(const char* result,
                                            const char* /*buf*/) {
  return result;
}

// Debian's Abseil has its own string_view, distinct from std::string_view.
absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string StrError(int err) {
  char buf[128];
  buf[0] = '\0';
  return StrErrorResult(strerror_r(err, buf, sizeof buf), buf);
}

std::optional<int> PayloadErrno(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kErrnoPayload);
  if (!payload.has_value()) return std::nullopt;
  int err = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &err) || err <= 0) {
    return std::nullopt;
  }
  return err;
}

}  // namespace

absl::Status ErrnoToStatus(int err, std::string_view what) {
  if (err == 0) return absl::OkStatus();
  std::string message = what.empty()
                            ? StrError(err)
                            : absl::StrCat(AbslView(what), ": ", StrError(err));
  absl::Status status(absl::ErrnoToStatusCode(err), message);
  if (err > 0) status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

int StatusToErrno(const absl::Status& status) {
  if (status.ok()) return 0;
  if (std::optional<int> err = PayloadErrno(status)) return *err;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return EINVAL;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return EACCES;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    case absl::StatusCode::kCancelled:
      return ECANCELED;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      return EAGAIN;
    case absl::StatusCode::kOutOfRange:
      return ERANGE;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    default:
      return EIO;
  }
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok() || context.empty()) return status;
  absl::Status annotated(status.code(),
                         absl::StrCat(AbslView(context), ": ", status.message()));
  status.ForEachPayload(
      [&annotated](absl::string_view type_url, const absl::Cord& payload) {
        annotated.SetPayload(type_url, payload);
      });
  return annotated;
}

}  // namespace common
