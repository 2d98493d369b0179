// A generation counter with a condition: writers call Notify() after changing state that
// watchers care about; watchers block in WaitForChange() instead of polling.
// Thread-safe.
#ifndef WALREP_AGENT_CHANGE_NOTIFIER_H_
#define WALREP_AGENT_CHANGE_NOTIFIER_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace walrep {

class ChangeNotifier {
 public:
  uint64_t generation() const {
    absl::MutexLock lock(&mu_);
    return generation_;
  }
  void Notify() {
    absl::MutexLock lock(&mu_);
    ++generation_;
    cv_.SignalAll();
  }
  // Waits until the generation differs from `seen` or `deadline` passes; returns the
  // current generation either way.
  uint64_t WaitForChange(uint64_t seen, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    while (generation_ == seen) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return generation_;
  }

 private:
  mutable absl::Mutex mu_;
  mutable absl::CondVar cv_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace walrep

#endif  // WALREP_AGENT_CHANGE_NOTIFIER_H_
