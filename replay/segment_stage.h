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
// When the file system refuses O_DIRECT (tmpfs, some FUSE), the same aligned writes go
// through the page cache. Thread-compatible: the writer's mutating thread owns it (the
// stage's thread only ever runs the writes handed to it).
#ifndef WALREP_REPLAY_SEGMENT_STAGE_H_
#define WALREP_REPLAY_SEGMENT_STAGE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "replay/file_ops.h"

namespace walrep {

class SegmentStage {
 public:
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
  absl::Status Begin(File* file, uint64_t offset, uint64_t file_size);

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

 private:
  struct Job {
    char* data;
    uint64_t offset;
    uint64_t len;
  };
  // Writes `len` bytes of `data` at `offset` of file_, falling back to the page cache when
  // the direct write is refused.
  absl::Status WriteBlock(const char* data, uint64_t offset, uint64_t len);
  // The filling buffer's bytes, zero-padded to whole blocks, written on this thread.
  absl::Status WriteCurrent(uint64_t len);
  // Hands the full filling buffer to the thread and takes a free one.
  absl::Status Submit(uint64_t len);
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
