// CancelToken: a one-shot "stop now" signal that blocking waits can watch alongside their
// socket. Whoever owns an operation (a backup job, a replica stream) fires it once; every
// wait of the wire layer that was handed the token — connect, the TLS handshake, reads and
// writes, a host name lookup — returns absl::CancelledError at once instead of waiting
// for its deadline.
//
// The signal is an eventfd, so poll(2)-based waits add it to their set (fd() becomes
// readable once cancelled and stays so), and waits on a condition (the resolver's) register
// a callback that runs on Cancel(). Firing is idempotent and never blocks for long: it
// writes the eventfd and runs the registered callbacks, which must themselves be short.
//
// Thread-safe: Cancel() may be called from any thread, concurrently with waits on others.
// Not async-signal-safe (callbacks take locks): signal handlers should hand off to a
// thread (the daemon takes SIGTERM with sigwait).
#ifndef WALREP_WIRE_CANCEL_TOKEN_H_
#define WALREP_WIRE_CANCEL_TOKEN_H_

#include <functional>
#include <optional>
#include <stop_token>

#include "absl/status/status.h"

namespace walrep {

class CancelToken {
 public:
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Fires the token; later calls do nothing.
  void Cancel();
  bool cancelled() const { return source_.stop_requested(); }
  // Readable once cancelled (never drained). -1 only if the eventfd could not be made, in
  // which case polled waits notice cancellation at their next deadline check.
  int fd() const { return fd_; }

  // Runs `fn` when the token fires — at once, on this thread, if it already has — unless
  // the Callback was destroyed first. Destruction waits for a running `fn` to return, so
  // what `fn` touches may be freed right after.
  class Callback {
   public:
    Callback(const CancelToken& token, std::function<void()> fn);
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;

   private:
    std::stop_callback<std::function<void()>> cb_;
  };

 private:
  std::stop_source source_;
  int fd_ = -1;
};

// The status of a wait ended by a token.
inline absl::Status CancelledByToken() { return absl::CancelledError("operation cancelled"); }

}  // namespace walrep

#endif  // WALREP_WIRE_CANCEL_TOKEN_H_
