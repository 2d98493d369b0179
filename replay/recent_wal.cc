#include "replay/recent_wal.h"

#include <algorithm>
#include <cstring>

namespace walrep {

RecentWal::RecentWal(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)), ring_(new char[capacity_]) {}

void RecentWal::Reset() {
  absl::MutexLock lock(&mu_);
  start_ = end_ = 0;
}

void RecentWal::Append(Lsn start, absl::string_view bytes, TimelineId tli) {
  // Only the newest `capacity_` bytes can stay.
  uint64_t at = start.value();
  if (bytes.size() > capacity_) {
    at += bytes.size() - capacity_;
    bytes.remove_prefix(bytes.size() - capacity_);
  }
  absl::MutexLock lock(&mu_);
  if (at != end_ || start.value() != at || tli != tli_) start_ = at;
  tli_ = tli;
  while (!bytes.empty()) {
    const size_t off = static_cast<size_t>(at % capacity_);
    const size_t n = std::min(bytes.size(), capacity_ - off);
    std::memcpy(ring_.get() + off, bytes.data(), n);
    bytes.remove_prefix(n);
    at += n;
  }
  end_ = at;
  if (end_ - start_ > capacity_) start_ = end_ - capacity_;
}

size_t RecentWal::Read(Lsn pos, size_t n, char* out, TimelineId tli) const {
  absl::MutexLock lock(&mu_);
  const uint64_t p = pos.value();
  if (tli != tli_ || p < start_ || p >= end_) return 0;
  size_t done = 0;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(n, end_ - p));
  while (done < want) {
    const size_t off = static_cast<size_t>((p + done) % capacity_);
    const size_t k = std::min(want - done, capacity_ - off);
    std::memcpy(out + done, ring_.get() + off, k);
    done += k;
  }
  return done;
}

}  // namespace walrep
