#include "engine/wal_read_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "replay/errno_status.h"

namespace walrep {
namespace {

// A WAL segment's name: timeline, log and segment, 8 hex digits each.
bool IsSegmentName(absl::string_view name) {
  if (name.size() != 24) return false;
  for (char c : name) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WalReadWatch>> WalReadWatch::Create(const std::string& wal_dir) {
  const int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return ErrnoStatus("inotify_init1", wal_dir, errno);
  // pg_wal may be a symbolic link (initdb/pg_basebackup --waldir): followed.
  if (inotify_add_watch(in, wal_dir.c_str(), IN_CLOSE_NOWRITE | IN_ONLYDIR) < 0) {
    const int err = errno;
    close(in);
    return ErrnoStatus("inotify_add_watch", wal_dir, err);
  }
  const int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev < 0) {
    const int err = errno;
    close(in);
    return ErrnoStatus("eventfd", wal_dir, err);
  }
  return std::unique_ptr<WalReadWatch>(new WalReadWatch(in, ev));
}

WalReadWatch::~WalReadWatch() {
  close(inotify_fd_);
  close(event_fd_);
}

bool WalReadWatch::ReadEvents() {
  bool segment = false;
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const ssize_t n = read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) return segment;  // EAGAIN: nothing more pending
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
      // IN_Q_OVERFLOW: events were dropped — one of them may have been a close.
      if ((e->mask & IN_Q_OVERFLOW) ||
          (e->len > 0 && IsSegmentName(absl::string_view(e->name)))) {
        segment = true;
      }
      off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
}

void WalReadWatch::Interrupt() {
  const uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof one);
}

WalReadWatch::Event WalReadWatch::Wait(absl::Time deadline) {
  for (;;) {
    if (ReadEvents()) return Event::kSegmentClosed;
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return Event::kTimeout;
    // ppoll: the waits are a few milliseconds, poll's millisecond rounding would double them.
    const timespec ts = absl::ToTimespec(left);
    const int r = ppoll(fds, 2, &ts, nullptr);
    if (r < 0 && errno != EINTR) return Event::kTimeout;
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      (void)!read(event_fd_, &n, sizeof n);
      return Event::kInterrupted;
    }
  }
}

}  // namespace walrep
