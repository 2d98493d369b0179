#include "replay/flush_times.h"

#include <algorithm>

namespace walrep {

void FlushTimes::Flushed(uint64_t lsn, absl::Time at) {
  if (!samples_.empty() && lsn <= samples_.back().first) return;  // not a new position
  // Full: the newest sample takes the new position and keeps its own, earlier time — WAL
  // is then taken as durable earlier than it was, which can only make the lag larger,
  // never hide it.
  if (samples_.size() >= max_samples_) {
    samples_.back().first = lsn;
    return;
  }
  samples_.emplace_back(lsn, at);
}

void FlushTimes::Applied(uint64_t apply) {
  while (!samples_.empty() && samples_.front().first <= apply) samples_.pop_front();
}

absl::Duration FlushTimes::Lag(uint64_t durable, uint64_t apply, absl::Time now) const {
  if (durable <= apply) return absl::ZeroDuration();
  for (const auto& [lsn, at] : samples_) {
    if (lsn > apply) return std::max(absl::ZeroDuration(), now - at);
  }
  return absl::ZeroDuration();
}

}  // namespace walrep
