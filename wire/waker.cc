#include "wire/waker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace walrep {

Waker::Waker() : event_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (event_fd_ < 0) return;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = event_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) != 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
}

Waker::~Waker() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (event_fd_ >= 0) close(event_fd_);
}

void Waker::Wake() const {
  if (event_fd_ < 0) return;
  const uint64_t one = 1;
  // EAGAIN only when the counter is at its maximum: already readable, nothing to add.
  (void)!write(event_fd_, &one, sizeof one);
}

void Waker::Drain() const {
  if (event_fd_ < 0) return;
  uint64_t n;
  (void)!read(event_fd_, &n, sizeof n);
}

absl::Status Waker::Watch(int fd) {
  if (epoll_fd_ < 0) return absl::UnavailableError("the waker has no epoll descriptor");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl(ADD, ", fd, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace walrep
