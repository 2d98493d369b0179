// Early-return helpers for absl::Status / absl::StatusOr. Debian's Abseil (20220623)
// predates ABSL_RETURN_IF_ERROR, so walrep defines its own once, here.
#ifndef WALREP_WIRE_STATUS_MACROS_H_
#define WALREP_WIRE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WALREP_CONCAT_INNER_(a, b) a##b
#define WALREP_CONCAT_(a, b) WALREP_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status walrep_status_ = (expr);      \
    if (!walrep_status_.ok()) return walrep_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from an OK StatusOr or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(WALREP_CONCAT_(walrep_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // WALREP_WIRE_STATUS_MACROS_H_
