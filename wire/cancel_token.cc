#include "wire/cancel_token.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

namespace walrep {

CancelToken::CancelToken() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CancelToken::~CancelToken() {
  if (fd_ >= 0) close(fd_);
}

void CancelToken::Cancel() {
  if (source_.stop_requested()) return;  // a second writer racing past this is harmless
  // The eventfd first, so a poll that starts while callbacks run already sees it.
  if (fd_ >= 0) {
    const uint64_t one = 1;
    ssize_t n;
    do {
      n = write(fd_, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
  }
  source_.request_stop();
}

CancelToken::Callback::Callback(const CancelToken& token, std::function<void()> fn)
    : cb_(token.source_.get_token(), std::move(fn)) {}

}  // namespace walrep
