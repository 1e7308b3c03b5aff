// Status helpers for code built on errno-returning system calls.
//
//   int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
//   if (fd < 0) return common::ErrnoToStatus(errno, absl::StrCat("open ", path));
//   // NotFound("open /etc/meshd.conf: No such file or directory")
//
//   absl::Status s = ...;
//   reply.se_aux = common::StatusToErrno(s);   // back to an errno for a reply
//
// See common/status_macros.h for RETURN_IF_ERROR and ASSIGN_OR_RETURN.
#ifndef COMMON_STATUS_H_
#define COMMON_STATUS_H_

#include <string_view>

#include "absl/status/status.h"

namespace common {

// Returns the status for the errno value ERR: the code is
// absl::ErrnoToStatusCode(ERR) (ENOENT -> NotFound, EACCES and EPERM ->
// PermissionDenied, EINVAL -> InvalidArgument, ETIMEDOUT ->
// DeadlineExceeded, EAGAIN and ECONNREFUSED -> Unavailable, EEXIST ->
// AlreadyExists, EADDRINUSE -> FailedPrecondition, ENOMEM and ENOSPC ->
// ResourceExhausted, unknown values -> Unknown); the message is
// "WHAT: <strerror(ERR)>", or only the strerror text if WHAT is empty; and
// ERR itself rides along as a payload, so StatusToErrno() gives it back
// exactly. ERR == 0 returns absl::OkStatus() (WHAT is ignored).
absl::Status ErrnoToStatus(int err, std::string_view what);

// Returns the errno that best describes STATUS: 0 if it is ok; the exact
// value if the status was made by ErrnoToStatus() (also after Annotate());
// otherwise one for its code: InvalidArgument and FailedPrecondition ->
// EINVAL, NotFound -> ENOENT, AlreadyExists -> EEXIST, PermissionDenied and
// Unauthenticated -> EACCES, DeadlineExceeded -> ETIMEDOUT, Cancelled ->
// ECANCELED, ResourceExhausted, Unavailable and Aborted -> EAGAIN,
// OutOfRange -> ERANGE, Unimplemented -> EOPNOTSUPP, anything else -> EIO.
// Never returns a negative value.
int StatusToErrno(const absl::Status& status);

// Returns STATUS with "CONTEXT: " put in front of its message, keeping its
// code and payloads. An ok STATUS, or an empty CONTEXT, returns STATUS as it
// is.
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace common

#endif  // COMMON_STATUS_H_
