#include "replay/recent_wal.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace walrep {
namespace {
constexpr size_t kMaxFree = 4;  // free chunks kept for reuse
}  // namespace

RecentWal::RecentWal(size_t capacity, size_t chunk)
    : capacity_(std::max<size_t>(capacity, 1)),
      chunk_(std::clamp<size_t>(chunk, 1, capacity_)) {}

std::shared_ptr<RecentWal::Chunk> RecentWal::NewChunk(uint64_t base) {
  std::shared_ptr<Chunk> c;
  if (!free_.empty()) {
    c = std::move(free_.back());
    free_.pop_back();
  } else {
    c = std::make_shared<Chunk>(chunk_);
  }
  c->base = base;
  return c;
}

void RecentWal::Retire(std::shared_ptr<Chunk> c) {
  // use_count 1: only the ring has it, and a reader can only get it from the ring, under
  // mu_; a chunk a view still holds is left to the view and freed with it.
  if (c.use_count() == 1 && free_.size() < kMaxFree) free_.push_back(std::move(c));
}

void RecentWal::RetireAll() {
  while (!chunks_.empty()) {
    Retire(std::move(chunks_.front()));
    chunks_.pop_front();
  }
}

void RecentWal::Reset() {
  absl::MutexLock lock(&mu_);
  RetireAll();
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
  if (at != end_ || start.value() != at || tli != tli_ || chunks_.empty()) {
    // Starts again in fresh chunks: bytes a view holds are never overwritten.
    RetireAll();
    start_ = at;
  }
  tli_ = tli;
  while (!bytes.empty()) {
    if (chunks_.empty() || at == chunks_.back()->base + chunk_) {
      std::shared_ptr<Chunk> c = NewChunk(at - at % chunk_);
      if (c->data.data() == nullptr) {
        // Out of memory: the ring holds nothing from here on (readers read the files)
        // until an append that continues nothing starts it again.
        RetireAll();
        start_ = end_ = at + bytes.size();
        tli_ = 0;
        return;
      }
      chunks_.push_back(std::move(c));
    }
    Chunk& c = *chunks_.back();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), c.base + chunk_ - at));
    char* dst = c.data.data() + (at - c.base);
    // Already there when received into Space; memmove, not memcpy: `bytes` may be any
    // memory, even a retired chunk's that was reused for this one.
    if (dst != bytes.data()) std::memmove(dst, bytes.data(), n);
    bytes.remove_prefix(n);
    at += n;
  }
  end_ = at;
  if (end_ - start_ > capacity_) start_ = end_ - capacity_;
  while (!chunks_.empty() && chunks_.front()->base + chunk_ <= start_) {
    Retire(std::move(chunks_.front()));
    chunks_.pop_front();
  }
}

absl::Span<char> RecentWal::Space(Lsn start, size_t n, TimelineId tli) {
  absl::MutexLock lock(&mu_);
  const uint64_t at = start.value();
  if (at != end_ || tli != tli_ || chunks_.empty() || n == 0) return {};
  if (at == chunks_.back()->base + chunk_) {
    // The next chunk, in the ring already but beyond end_: no reader looks there, and
    // Append fills it as it would have.
    std::shared_ptr<Chunk> c = NewChunk(at);
    if (c->data.data() == nullptr) return {};
    chunks_.push_back(std::move(c));
  }
  Chunk& c = *chunks_.back();
  const size_t k = static_cast<size_t>(std::min<uint64_t>(n, c.base + chunk_ - at));
  return absl::MakeSpan(c.data.data() + (at - c.base), k);
}

RecentWal::View RecentWal::ReadView(Lsn pos, size_t n, TimelineId tli) const {
  absl::MutexLock lock(&mu_);
  const uint64_t p = pos.value();
  if (tli != tli_ || p < start_ || p >= end_ || n == 0) return {};
  const std::shared_ptr<Chunk>& c = chunks_[(p - chunks_.front()->base) / chunk_];
  const size_t k = static_cast<size_t>(std::min<uint64_t>({n, end_ - p, c->base + chunk_ - p}));
  return View{absl::string_view(c->data.data() + (p - c->base), k), c};
}

size_t RecentWal::Read(Lsn pos, size_t n, char* out, TimelineId tli) const {
  size_t done = 0;
  while (done < n) {
    View v = ReadView(Lsn(pos.value() + done), n - done, tli);
    if (v.bytes.empty()) break;
    std::memcpy(out + done, v.bytes.data(), v.bytes.size());
    done += v.bytes.size();
  }
  return done;
}

}  // namespace walrep
