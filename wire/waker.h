// Waker: lets another thread end a connection's read wait early without it being an
// error — the read returns as if its deadline had passed, and the reader looks at what
// changed. The replica stream uses it so that an engine's replay advance is reported to
// the primary at once (a remote_apply commit waits on that report) instead of at the next
// poll slice.
//
// An eventfd: Wake() makes it readable until Drain(). Level-triggered on purpose: a Wake()
// between the reader's Drain() and its next wait still ends that wait. Only reads watch
// it (a write interrupted would lose data).
//
// Watch(fd) adds another descriptor whose readability ends the wait too, so the reader
// can act on an event itself instead of a thread of its own passing it on with Wake()
// (each hand-off between threads waits for a core: ~100 µs on a busy 2-core machine).
// The waiting thread must then consume what makes `fd` readable each time it wakes, or
// its waits end at once. fd() is an epoll descriptor holding the eventfd and the watched
// ones (readable when any of them is).
//
// Thread-safe: Wake() from any thread; Drain() by the reader; Watch() before the waits
// that should see it.
#ifndef WALREP_WIRE_WAKER_H_
#define WALREP_WIRE_WAKER_H_

#include "absl/status/status.h"

namespace walrep {

class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  void Wake() const;
  void Drain() const;
  // Adds `fd` (owned by the caller, open while watched) to what ends a wait.
  absl::Status Watch(int fd);
  // -1 only if the descriptors could not be made (then waits end at their deadlines only).
  int fd() const { return epoll_fd_; }

 private:
  int event_fd_ = -1;
  int epoll_fd_ = -1;
};

}  // namespace walrep

#endif  // WALREP_WIRE_WAKER_H_
