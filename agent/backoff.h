// Reconnect backoff for the replica stream: 250 ms doubling to a 30 s cap, each delay
// jittered by ±20% so that many replicas of one restarted primary do not reconnect in
// lockstep; Reset() after a session that streamed. Pure apart from the random source;
// not thread-safe (owned by the stream thread).
#ifndef WALREP_AGENT_BACKOFF_H_
#define WALREP_AGENT_BACKOFF_H_

#include <functional>

#include "absl/time/time.h"

namespace walrep {

class Backoff {
 public:
  static constexpr absl::Duration kInitial = absl::Milliseconds(250);
  static constexpr absl::Duration kCap = absl::Seconds(30);

  // `uniform01` returns a value in [0, 1); tests pass a fixed one.
  explicit Backoff(std::function<double()> uniform01);

  // The delay before the next attempt; doubles the base for the one after.
  absl::Duration Next();
  void Reset() { base_ = kInitial; }
  absl::Duration base() const { return base_; }

 private:
  std::function<double()> uniform01_;
  absl::Duration base_ = kInitial;
};

}  // namespace walrep

#endif  // WALREP_AGENT_BACKOFF_H_
