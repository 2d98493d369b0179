// Process-wide latency histograms the streaming loop feeds and /metrics renders: WAL
// fsync duration and acknowledgement latency (WAL received -> status update sent). They
// are process-wide because every stream (the replica's and a backup's WAL stream) shares
// one disk and one primary; a per-stream split would add labels nobody alerts on.
// Thread-safe: Observe is lock-free (relaxed atomics) so the streaming thread never waits
// on a scraper.
#ifndef WALREP_AGENT_LATENCY_HISTOGRAMS_H_
#define WALREP_AGENT_LATENCY_HISTOGRAMS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace walrep {

class LatencyHistogram {
 public:
  // Upper bounds in seconds: 100 us .. 10 s, about 2.5x apart (fsync on SSDs is
  // sub-millisecond, on network disks tens of ms; a stalled disk shows in the top ones).
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     1,      10};
  void Observe(absl::Duration d);
  // Appends HELP/TYPE and the _bucket/_sum/_count series in Prometheus text format.
  void Render(std::string* out, absl::string_view name, absl::string_view help) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};  // not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

LatencyHistogram& WalFsyncHistogram();
LatencyHistogram& AckLatencyHistogram();

}  // namespace walrep

#endif  // WALREP_AGENT_LATENCY_HISTOGRAMS_H_
