// The apply tracker for the `none` engine: apply_lsn follows the WAL writer's durable
// flush position, advanced at once on every flush (Wake) and at least every tick (the
// seed's DEFAULT_APPLY_TICK, 250 ms) by its own thread, so that a missed wake-up can only
// delay it, never stall it.
// A later replay stage (record decoding) narrows apply_lsn to the last verified record.
// One background thread; Start/Stop from one thread, apply_lsn() from any.
#ifndef WALREP_AGENT_APPLY_TRACKER_H_
#define WALREP_AGENT_APPLY_TRACKER_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wire/lsn.h"

namespace walrep {

inline constexpr absl::Duration kDefaultApplyTick = absl::Milliseconds(250);

class ApplyTracker {
 public:
  // `source` returns the position apply may advance to (the durable flush LSN);
  // `on_advance` is called after apply_lsn moves (to notify watchers).
  ApplyTracker(std::function<Lsn()> source, std::function<void()> on_advance,
               absl::Duration tick = kDefaultApplyTick);
  ~ApplyTracker() { Stop(); }

  void Start();
  void Stop();
  // Called from the flush path after every durable flush: apply catches up now.
  void Wake();
  // Sets apply_lsn directly (restart from persisted state, new timeline at promotion).
  void Reset(Lsn lsn);
  Lsn apply_lsn() const { return Lsn(apply_lsn_.load()); }
  // Blocks until apply_lsn >= lsn or the timeout passes; returns whether it got there.
  bool WaitForApply(Lsn lsn, absl::Duration timeout) const;

 private:
  void Run();
  // Moves apply_lsn up to the source's position (never down).
  void Advance();

  std::function<Lsn()> source_;
  std::function<void()> on_advance_;
  const absl::Duration tick_;
  std::atomic<uint64_t> apply_lsn_{0};
  mutable absl::Mutex mu_;
  mutable absl::CondVar cv_;  // apply_lsn moved (WaitForApply)
  absl::CondVar stop_cv_;      // Stop() (the ticking thread waits on this alone)
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace walrep

#endif  // WALREP_AGENT_APPLY_TRACKER_H_
