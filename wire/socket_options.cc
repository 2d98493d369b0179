#include "wire/socket_options.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

absl::Status SetIntOption(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) == 0) return absl::OkStatus();
  const int e = errno;
  std::string message = absl::StrCat("setsockopt(", what, ") failed: ", std::strerror(e));
  if (e == EINVAL) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

absl::Status SetIfGiven(int fd, int name, const std::optional<int>& value, const char* what) {
  if (!value.has_value()) return absl::OkStatus();
  return SetIntOption(fd, IPPROTO_TCP, name, std::max(*value, 0), what);
}

}  // namespace

absl::Status ApplyTcpOptions(int fd, const TcpOptions& options) {
  // The protocol is request/response with small messages; Nagle only adds latency.
  RETURN_IF_ERROR(SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"));
  if (options.keepalives) {
    RETURN_IF_ERROR(SetIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"));
    RETURN_IF_ERROR(SetIfGiven(fd, TCP_KEEPIDLE, options.keepalives_idle, "TCP_KEEPIDLE"));
    RETURN_IF_ERROR(SetIfGiven(fd, TCP_KEEPINTVL, options.keepalives_interval, "TCP_KEEPINTVL"));
    RETURN_IF_ERROR(SetIfGiven(fd, TCP_KEEPCNT, options.keepalives_count, "TCP_KEEPCNT"));
  }
  return SetIfGiven(fd, TCP_USER_TIMEOUT, options.user_timeout_ms, "TCP_USER_TIMEOUT");
}

}  // namespace walrep
