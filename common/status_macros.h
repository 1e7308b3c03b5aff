// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status and absl::StatusOr
// (Debian's Abseil 20220623 has neither).
//
//   absl::StatusOr<Config> Load(const std::string& path) {
//     ASSIGN_OR_RETURN(std::string text, ReadFile(path));  // StatusOr<string>
//     Config config;
//     RETURN_IF_ERROR(Parse(text, &config));               // Status
//     return config;
//   }
//
// Both work in any function whose return type can be constructed from an
// absl::Status (absl::Status itself, or any absl::StatusOr<T>).
#ifndef COMMON_STATUS_MACROS_H_
#define COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): evaluates EXPR (an absl::Status) once; if it is not
// ok, returns it from the enclosing function. A single statement: safe in an
// unbraced if/else. EXPR must be an absl::Status, not a StatusOr (use
// ASSIGN_OR_RETURN, or `.status()` to deliberately drop the value).
#define RETURN_IF_ERROR(expr)                                           \
  do {                                                                  \
    ::absl::Status common_status_macros_status_ = (expr);               \
    if (ABSL_PREDICT_FALSE(!common_status_macros_status_.ok())) {       \
      return common_status_macros_status_;                              \
    }                                                                   \
  } while (false)

// ASSIGN_OR_RETURN(lhs, rexpr): evaluates REXPR (an absl::StatusOr<T>) once;
// if it holds an error, returns that status from the enclosing function;
// otherwise moves the value into LHS, which is either a declaration
// (`std::string text`, `auto fd`) or an existing lvalue (`config_`). Move-only
// values work.
//
// It expands to several statements: put braces around it under if/else/for.
// LHS must not contain an unparenthesized comma (`std::pair<int, int> p`):
// use a type alias or `auto` instead. At most one use per source line.
#define ASSIGN_OR_RETURN(lhs, rexpr)                                      \
  COMMON_STATUS_MACROS_ASSIGN_OR_RETURN_IMPL_(                            \
      COMMON_STATUS_MACROS_CONCAT_(common_status_macros_statusor_,        \
                                   __LINE__),                             \
      lhs, rexpr)

// Implementation details.
#define COMMON_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define COMMON_STATUS_MACROS_CONCAT_(x, y) \
  COMMON_STATUS_MACROS_CONCAT_INNER_(x, y)
#define COMMON_STATUS_MACROS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                                \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                               \
    return std::move(statusor).status();                                  \
  }                                                                       \
  lhs = *std::move(statusor)

#endif  // COMMON_STATUS_MACROS_H_
