// RecentWal: the newest WAL the writer took, kept in memory (a ring of `capacity` bytes)
// so that replay reads what was just made durable from here instead of from the files.
//
// Why: while catching up, segments are written with O_DIRECT (segment_stage.h) and are
// not in the page cache; replay reading them back from the device competed with the
// writes for it (strace of a catch-up: 2.8 ms per 1 MiB direct read, 2.3 s of a 3.5 s
// run). Before that change replay read the same bytes from the page cache, which is
// memory too: neither way re-reads the disk, so WAL damaged on disk after its fsync is
// found when replay reads files — after a restart, or when it falls further behind than
// the ring holds (WalFileFeeder then reads with O_DIRECT).
//
// Every byte the writer gives it has passed the writer's decoder (page headers, lengths,
// the xl_prev chain, each record's CRC-32C once the record is complete), and a reader
// takes only bytes below the durable position, the end of such a record: replay does not
// compute those CRCs a second time (WalDecoder::Feed's `verified`), as PostgreSQL's
// startup process checks each record once.
//
// Holds one contiguous LSN range [start, end) of the writer's current timeline; a write
// that does not continue it (a new position, a timeline switch) starts it again. A reader
// only takes bytes below the durable position it was given, and those never change.
// Thread-safe: one writer, any number of readers.
//
// The bytes live in chunks of `chunk` bytes, each covering an aligned LSN range, shared
// with readers: a reader decodes straight from a chunk (a View holds it) instead of
// copying out first — that copy was 6% of a catch-up's CPU. A chunk leaves the ring when
// it is older than `capacity`, or when the ring starts again, but stays alive while a view
// holds it; bytes a view covers are never written again (a restart takes fresh chunks).
// Chunks no reader holds are reused, so the steady state allocates nothing. A chunk's
// memory is aligned for direct I/O: the writer's O_DIRECT writes of a catch-up are made
// from it (segment_stage.h's Source) rather than from a second copy.
#ifndef WALREP_REPLAY_RECENT_WAL_H_
#define WALREP_REPLAY_RECENT_WAL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "replay/file_ops.h"
#include "wire/lsn.h"

namespace walrep {

class RecentWal {
 public:
  explicit RecentWal(size_t capacity = size_t{32} << 20, size_t chunk = size_t{2} << 20);

  // Bytes of the ring, valid while `hold` is kept.
  struct View {
    absl::string_view bytes;
    std::shared_ptr<const void> hold;
  };

  // Empties the ring; the next Append may start anywhere.
  void Reset();
  // Takes `bytes` at `start` on timeline `tli` (the ring restarts there unless `start` is
  // its end on the same timeline). Bytes received into Space(start, ...) are taken where
  // they lie, without a copy.
  void Append(Lsn start, absl::string_view bytes, TimelineId tli);
  // Memory to receive up to `n` bytes at `start` into before Append takes them there, so
  // that the stream's socket reads put WAL straight where it is kept (that copy was 10%
  // of a catch-up's CPU): never past the end of the chunk that will hold `start`; empty
  // unless `start` continues the ring on `tli`. Nothing is taken yet — readers see only
  // what Append takes — and the span stays valid until the next call that changes the
  // ring. One writer: only it calls this, Append and Reset.
  absl::Span<char> Space(Lsn start, size_t n, TimelineId tli);
  // Copies up to `n` bytes at `pos` into `out`; 0 when `pos` is not held (older than the
  // ring, or not written yet) or the ring holds another timeline than `tli` (a reader
  // still following the timeline before a switch reads that timeline's files).
  size_t Read(Lsn pos, size_t n, char* out, TimelineId tli) const;
  // The same without a copy: up to `n` bytes at `pos`, never past the end of the chunk
  // that holds `pos`; empty when Read would return 0.
  View ReadView(Lsn pos, size_t n, TimelineId tli) const;

  size_t capacity() const { return capacity_; }
  // The size of a chunk: ReadView never crosses a multiple of it.
  size_t chunk_size() const { return chunk_; }

 private:
  struct Chunk {
    // Not zeroed (written before read); aligned to its size up to 2 MiB, so that a 2 MiB
    // chunk can be one huge page.
    explicit Chunk(size_t size)
        : data(size, std::min<size_t>(size & ~(size - 1), size_t{2} << 20)) {}
    AlignedBuffer data;
    uint64_t base = 0;  // LSN of data[0], a multiple of chunk_
  };
  // A chunk for `base`, reusing a free one when there is one.
  std::shared_ptr<Chunk> NewChunk(uint64_t base) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `c` out of the ring; kept for reuse when no view holds it.
  void Retire(std::shared_ptr<Chunk> c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every chunk out of the ring.
  void RetireAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  const size_t chunk_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<Chunk>> chunks_ ABSL_GUARDED_BY(mu_);  // contiguous, oldest first
  std::vector<std::shared_ptr<Chunk>> free_ ABSL_GUARDED_BY(mu_);
  uint64_t start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;
  TimelineId tli_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace walrep

#endif  // WALREP_REPLAY_RECENT_WAL_H_
