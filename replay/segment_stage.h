// SegmentStage: how the WAL writer writes a segment while it catches up. Bytes gather in
// one aligned buffer and reach the file in aligned blocks written with O_DIRECT, from the
// buffer straight to the device.
//
// Why: a catch-up writes hundreds of MiB once and never reads them back through the
// page cache soon (replay reads them directly too, see WalFileFeeder). Through the page
// cache every byte is first copied into freshly allocated cache pages — on a VM whose
// host has reclaimed those pages, that copy was 40% of the agent's CPU in a catch-up
// (perf: copy_folio_from_iter_atomic under pwrite) — and then written back at the
// fdatasync anyway. PostgreSQL writes its own WAL the same way under open_datasync with
// direct I/O, for the same reason.
//
// The buffer covers the file range [base, base + staged), base a multiple of
// kDirectIoAlignment. A write-out writes [base, AlignUp(base + staged)), the last block
// padded with zeros (bytes past the write position are not WAL: WAL_FILES.md), and keeps
// that last partial block staged, so the next write-out rewrites it with the bytes
// that follow — as PostgreSQL rewrites the partial last page of its WAL. Rewriting a
// block puts back the same bytes below the old end, so a torn rewrite cannot damage what
// an earlier fdatasync made durable. Durability is unchanged: nothing is durable until the
// file's fdatasync (the writer's Flush), which with O_DIRECT also flushes the device cache
// and commits the blocks' allocation.
//
// A direct write returns only when the device has the data, so full buffers are written
// by a thread of the stage's own while the next ones fill (strace of a catch-up: 1.9 ms
// per 1 MiB pwrite, 1.8 s of 3.3 s spent blocked in them when the receiving thread wrote
// them itself). WriteOut waits for those writes; a failed one is returned by the next
// call, and nothing written after it counts.
//
// A buffer's bytes need not be copied at all when they are in memory already: with a
// Source (the WAL writer's RecentWal, which replay reads), a buffer that starts on a
// capacity boundary with nothing read back is "borrowed" — Append only counts its bytes,
// and the full buffer is written from the source's memory, held until the write is done;
// a write-out writes its whole blocks from there and only the last partial block through
// a copy. perf of a catch-up: the writer's two copies of every byte were 15% of the
// agent's CPU, half of it this one.
//
// When the file system refuses O_DIRECT (tmpfs, some FUSE), the same aligned writes go
// through the page cache. Thread-compatible: the writer's mutating thread owns it (the
// stage's thread only ever runs the writes handed to it).
#ifndef WALREP_REPLAY_SEGMENT_STAGE_H_
#define WALREP_REPLAY_SEGMENT_STAGE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "replay/file_ops.h"

namespace walrep {

class SegmentStage {
 public:
  // Memory holding bytes of the staged file, valid while `hold` is kept.
  struct Borrowed {
    absl::string_view bytes;
    std::shared_ptr<const void> hold;
  };
  // The bytes at file offset [offset, offset + n) that were appended, when they are in
  // memory the source keeps unchanged while held: all of them, in one piece, aligned to
  // kDirectIoAlignment at `offset` — or nothing (empty bytes). Called on the appending
  // thread, for bytes appended before the call.
  using Source = std::function<Borrowed(uint64_t offset, size_t n)>;

  // `capacity`: each buffer's size, a multiple of kDirectIoAlignment that divides every
  // segment size (1 MiB does: segments are 1 MiB to 1 GiB, powers of two); `buffers`
  // of them (at least 2: one filling while the others are written).
  explicit SegmentStage(size_t capacity = size_t{1} << 20, int buffers = 4);
  SegmentStage(const SegmentStage&) = delete;
  SegmentStage& operator=(const SegmentStage&) = delete;
  ~SegmentStage();

  bool active() const { return file_ != nullptr; }
  // Whether O_DIRECT is in use for the staged file (false: refused, page cache).
  bool direct() const;

  // Starts staging `file` (size `file_size`) at `offset`, the write position: the bytes of
  // the block before `offset` are read back from the file so that the first write-out
  // can rewrite the whole block. Errors are the file's read errors; OK when O_DIRECT is
  // refused (page cache then).
  // `source` (may be empty) lends the appended bytes' memory, see the header comment.
  absl::Status Begin(File* file, uint64_t offset, uint64_t file_size, Source source = nullptr);

  // Stages `bytes` at the write position (they must fit before file_size); every full
  // buffer is written out at once.
  absl::Status Append(absl::string_view bytes);

  // Writes out what is staged; the file then holds every byte appended.
  absl::Status WriteOut();

  // WriteOut, then O_DIRECT off: the file is the caller's again, for any write.
  absl::Status End();

  // Forgets the file without writing more (after a failure, or before the caller closes
  // it); returns once no write of the stage's thread uses it any more.
  void Drop();

  // The write position (file offset after the last byte appended).
  uint64_t end() const { return base_ + staged_; }

  // Waits until every full buffer handed to the stage's thread is in the file; then the
  // file holds every byte appended but the filling buffer's. The first failed write since
  // Begin, if any.
  absl::Status AwaitWrites() const { return Drain(); }

  // Copies the staged bytes that lie in [offset, offset + n) over `out`: the filling
  // buffer's, which a read of the file misses. Read the file after AwaitWrites().
  void Overlay(uint64_t offset, char* out, size_t n) const;

  // Bytes written with O_DIRECT (to show in tests and logs that the path is taken).
  uint64_t direct_bytes() const;
  // Bytes written from a Source's memory instead of a copy of the stage's own.
  uint64_t borrowed_bytes() const;

 private:
  struct Job {
    const char* data;
    uint64_t offset;
    uint64_t len;
    char* own;                          // the stage's buffer, freed after the write; or null
    std::shared_ptr<const void> hold;   // a Source's memory, released after the write
  };
  // Writes `len` bytes of `data` at `offset` of file_, falling back to the page cache when
  // the direct write is refused.
  absl::Status WriteBlock(const char* data, uint64_t offset, uint64_t len);
  // The filling buffer's bytes, zero-padded to whole blocks, written on this thread.
  absl::Status WriteCurrent(uint64_t len);
  // The same for a borrowed buffer: whole blocks from the source, the last partial one
  // through cur_.
  absl::Status WriteBorrowed();
  // Hands the full filling buffer to the thread and takes a free one.
  absl::Status Submit(uint64_t len);
  // The source's memory for the borrowed buffer's first `n` bytes, or an error.
  absl::StatusOr<Borrowed> Lend(uint64_t n) const;
  // Waits until no job is queued or running; returns the first failure of any.
  absl::Status Drain() const;
  void Run();

  const size_t capacity_;
  const int buffers_;
  std::vector<AlignedBuffer> storage_;  // allocated by the first Begin
  char* cur_ = nullptr;   // the filling buffer
  File* file_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t base_ = 0;     // file offset of cur_[0], aligned
  uint64_t staged_ = 0;   // bytes in cur_
  uint64_t written_ = 0;  // of those, already in the file
  Source source_;
  bool borrowed_ = false;  // the filling buffer's bytes are the source's, not in cur_
  uint64_t borrowed_bytes_ = 0;

  mutable absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<char*> free_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;   // the thread is writing a job
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);  // first failed write since Begin
  bool direct_ ABSL_GUARDED_BY(mu_) = false;
  // Cleared for good when the file system refused direct I/O once.
  bool direct_ok_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t direct_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // started with the first Begin
};

}  // namespace walrep

#endif  // WALREP_REPLAY_SEGMENT_STAGE_H_
