#include "agent/backoff.h"

#include <algorithm>

namespace walrep {

Backoff::Backoff(std::function<double()> uniform01) : uniform01_(std::move(uniform01)) {}

absl::Duration Backoff::Next() {
  double jitter = 0.8 + 0.4 * uniform01_();  // [0.8, 1.2)
  absl::Duration delay = std::min(base_ * jitter, kCap);
  base_ = std::min(base_ * 2, kCap);
  return delay;
}

}  // namespace walrep
