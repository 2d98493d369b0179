#include "wire/waker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace walrep {

Waker::Waker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Waker::~Waker() {
  if (fd_ >= 0) close(fd_);
}

void Waker::Wake() const {
  if (fd_ < 0) return;
  const uint64_t one = 1;
  // EAGAIN only when the counter is at its maximum: already readable, nothing to add.
  (void)!write(fd_, &one, sizeof one);
}

void Waker::Drain() const {
  if (fd_ < 0) return;
  uint64_t n;
  (void)!read(fd_, &n, sizeof n);
}

}  // namespace walrep
