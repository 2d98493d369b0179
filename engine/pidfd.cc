#include "engine/pidfd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "replay/errno_status.h"

namespace walrep {

absl::StatusOr<int> PidfdOpen(pid_t pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    int err = errno;
    if (err == ESRCH) return absl::NotFoundError(absl::StrCat("no process ", pid));
    return ErrnoStatus("pidfd_open", absl::StrCat("pid ", pid), err);
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfds are close-on-exec already; be explicit
  return fd;
}

absl::Status PidfdSignal(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0) {
    if (errno == ESRCH) return absl::OkStatus();
    return ErrnoStatus("pidfd_send_signal", absl::StrCat("signal ", sig), errno);
  }
  return absl::OkStatus();
}

bool PidfdWaitExit(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms < 0) ms = 0;
    if (timeout == absl::InfiniteDuration()) ms = -1;
    struct pollfd p = {pidfd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(ms > INT32_MAX ? INT32_MAX : ms));
    if (r > 0) return true;
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && ms == 0) return false;
    if (r == 0 && absl::Now() >= deadline) return false;
  }
}

}  // namespace walrep
