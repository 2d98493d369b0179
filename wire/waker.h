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
// Thread-safe: Wake() from any thread; Drain() by the reader.
#ifndef WALREP_WIRE_WAKER_H_
#define WALREP_WIRE_WAKER_H_

namespace walrep {

class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  void Wake() const;
  void Drain() const;
  // -1 only if the eventfd could not be made (then waits end at their deadlines only).
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace walrep

#endif  // WALREP_WIRE_WAKER_H_
