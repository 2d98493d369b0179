#include "agent/latency_histograms.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace walrep {

void LatencyHistogram::Observe(absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (s <= kBounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(d))),
                    std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string* out, absl::string_view name,
                              absl::string_view help) const {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  // Count read first: a concurrent Observe may then make a bucket exceed it, so +Inf is
  // the larger of the two and the series stays monotonic.
  uint64_t count = count_.load(std::memory_order_relaxed);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, name, "_bucket{le=\"", absl::StrFormat("%g", kBounds[i]), "\"} ",
                    cumulative, "\n");
  }
  count = std::max(count, cumulative);
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", count, "\n", name, "_sum ",
                  absl::StrFormat("%.9f", sum_ns_.load(std::memory_order_relaxed) / 1e9), "\n",
                  name, "_count ", count, "\n");
}

LatencyHistogram& WalFsyncHistogram() {
  static LatencyHistogram* h = new LatencyHistogram();  // never destroyed: used at exit
  return *h;
}

LatencyHistogram& AckLatencyHistogram() {
  static LatencyHistogram* h = new LatencyHistogram();
  return *h;
}

}  // namespace walrep
