#include "agent/apply_tracker.h"

#include "absl/time/clock.h"

namespace walrep {

ApplyTracker::ApplyTracker(std::function<Lsn()> source, std::function<void()> on_advance,
                           absl::Duration tick)
    : source_(std::move(source)), on_advance_(std::move(on_advance)), tick_(tick) {}

void ApplyTracker::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void ApplyTracker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void ApplyTracker::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
  cv_.SignalAll();
}

void ApplyTracker::Reset(Lsn lsn) {
  absl::MutexLock lock(&mu_);
  apply_lsn_.store(lsn.value());
  cv_.SignalAll();
}

bool ApplyTracker::WaitForApply(Lsn lsn, absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (apply_lsn_.load() < lsn.value()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) return apply_lsn_.load() >= lsn.value();
  }
  return true;
}

void ApplyTracker::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      absl::Time deadline = absl::Now() + tick_;
      while (!wake_ && !stop_) {
        if (cv_.WaitWithDeadline(&mu_, deadline)) break;
      }
      if (stop_) return;
      wake_ = false;
    }
    Lsn target = source_();
    bool moved = false;
    {
      absl::MutexLock lock(&mu_);
      if (target.value() > apply_lsn_.load()) {
        apply_lsn_.store(target.value());
        moved = true;
        cv_.SignalAll();
      }
    }
    if (moved && on_advance_) on_advance_();
  }
}

}  // namespace walrep
