// TCP socket options from libpq's keepalives, keepalives_idle, keepalives_interval,
// keepalives_count and tcp_user_timeout, set the way libpq's PQconnectPoll sets them:
// TCP sockets only, each value handed to setsockopt unchanged except that negatives become
// 0, and an unset value leaves the OS default. libpq documents 0 as "the system default",
// but it passes 0 through and Linux refuses TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT
// below 1, so libpq fails such a connection; so do we (ConnInfo::Validate catches it
// before any connection is tried).
//
// One difference, on purpose: libpq skips TCP_USER_TIMEOUT when keepalives=0 (a side
// effect of the else-if chain it sets options in, not a documented rule); walrep sets it
// whenever it is given, since nothing else would honour it.
//
// Pure setsockopt calls on a caller-owned descriptor; thread-compatible.
#ifndef WALREP_WIRE_SOCKET_OPTIONS_H_
#define WALREP_WIRE_SOCKET_OPTIONS_H_

#include <optional>

#include "absl/status/status.h"

namespace walrep {

struct TcpOptions {
  bool keepalives = true;                  // SO_KEEPALIVE (libpq: on unless keepalives=0)
  std::optional<int> keepalives_idle;      // seconds before the first probe: TCP_KEEPIDLE
  std::optional<int> keepalives_interval;  // seconds between probes: TCP_KEEPINTVL
  std::optional<int> keepalives_count;     // unanswered probes before giving up: TCP_KEEPCNT
  std::optional<int> user_timeout_ms;      // TCP_USER_TIMEOUT; 0 is the OS default
};

// Linux's accepted ranges (include/net/tcp.h), which ConnInfo::Validate checks up front.
inline constexpr int kMaxTcpKeepIdle = 32767;
inline constexpr int kMaxTcpKeepIntvl = 32767;
inline constexpr int kMaxTcpKeepCnt = 127;

// TCP_NODELAY, then the options above. A refused setsockopt is reported as libpq reports
// it ("setsockopt(TCP_KEEPIDLE) failed: Invalid argument"): InvalidArgument for EINVAL (the
// value, which every address would refuse alike), Unavailable otherwise.
absl::Status ApplyTcpOptions(int fd, const TcpOptions& options);

}  // namespace walrep

#endif  // WALREP_WIRE_SOCKET_OPTIONS_H_
