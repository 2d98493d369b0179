// FlushTimes: when each flush position was reached, to tell how old the oldest flushed
// WAL not yet applied is — the replay lag in seconds. Zero once apply has reached the
// flush position, so an idle caught-up replica shows no lag however long ago its last
// commit was (a lag computed from the last replayed commit's timestamp grows on an idle
// replica: cloudnative-pg#1814). Shared by both engines' apply trackers: the replay loop
// (engine none) and the supervised server's replay position (engine postgres).
//
// Keeps at most `max_samples` positions; past that the newest one is moved forward
// (keeping its time), so the lag shown can only be larger than the truth, never smaller.
// Not thread-safe: its owner guards it with its own lock.
#ifndef WALREP_REPLAY_FLUSH_TIMES_H_
#define WALREP_REPLAY_FLUSH_TIMES_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

#include "absl/time/time.h"

namespace walrep {

class FlushTimes {
 public:
  explicit FlushTimes(size_t max_samples = 4096) : max_samples_(max_samples) {}

  // The flush position reached `lsn` at `at`.
  void Flushed(uint64_t lsn, absl::Time at);
  // Apply reached `apply`: positions at or below it are no longer waiting.
  void Applied(uint64_t apply);
  void Clear() { samples_.clear(); }
  // With the flush position at `durable` and apply at `apply`: how long the oldest WAL
  // still to apply has been durable, at `now`; zero when nothing is waiting.
  absl::Duration Lag(uint64_t durable, uint64_t apply, absl::Time now) const;

 private:
  const size_t max_samples_;
  std::deque<std::pair<uint64_t, absl::Time>> samples_;  // oldest first
};

}  // namespace walrep

#endif  // WALREP_REPLAY_FLUSH_TIMES_H_
