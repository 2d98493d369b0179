// WalWriter: the WAL receiver's storage. Takes WAL bytes in stream order, checks that
// each chunk starts exactly where the previous one ended, splits them at segment
// boundaries into PostgreSQL-named segment files, and keeps two positions:
//   write_lsn  - end of the bytes handed to the kernel (pwrite done),
//   flush_lsn  - end of the bytes known durable (fsync done); the only position that may
//                be reported to a primary as "flushed" (PROTOCOL.md §3).
// Two layouts (WAL_FILES.md):
//   kArchive  - pg_receivewal: the segment being written is "<name>.partial"; when it is
//               complete it is fsynced, renamed to "<name>" and the directory fsynced.
//   kInPlace  - walreceiver: segments carry their final name from the start (a local
//               standby replays them while they fill).
// Either way a segment file is created at full size, zero-filled (via a temporary and a
// rename, so a segment-named file always has the full size). Bytes past flush_lsn are
// therefore zeros or stale data: only the prefix up to flush_lsn is meaningful when a
// file is compared with the primary's copy.
//
// Any failed write, fsync, close or rename makes the writer *failed* for good: every
// later Start/Append/Flush/SwitchTimeline returns that first error and flush_lsn never
// moves again (after a failed fsync the kernel may have dropped the dirty pages, so
// retrying could report bytes as durable that are not). The caller must create a new
// writer, which re-streams from the persisted flush position.
//
// Thread-safety: the mutating calls (Start, Append, Flush, SwitchTimeline, Close,
// WriteHistoryFile) must come from one thread at a time (the streaming session).
// write_lsn(), flush_lsn(), timeline(), failed(), failure() and WaitForFlushBeyond() may
// be called from any thread.
#ifndef WALREP_REPLAY_WAL_WRITER_H_
#define WALREP_REPLAY_WAL_WRITER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay/file_ops.h"
#include "replay/segment.h"
#include "wire/lsn.h"

namespace walrep {

class WalWriter {
 public:
  enum class Layout { kArchive, kInPlace };

  struct Options {
    std::string dir;  // created (one level) if missing
    uint64_t segment_size = kDefaultSegmentSize;
    Layout layout = Layout::kArchive;
    FileOps* file_ops = nullptr;  // nullptr: DefaultFileOps()
    // Called on the flushing thread, without internal locks held, each time flush_lsn
    // advances (e.g. to wake an apply tracker). Must not call back into the writer's
    // mutating methods.
    std::function<void(Lsn)> on_flush;
  };

  // InvalidArgument for an empty dir or invalid segment size; Internal if the directory
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<WalWriter>> Create(Options options);

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;
  // Closes an open segment without fsync (call Close() for a durable stop).
  ~WalWriter();

  // Positions the writer at `start` on timeline `tli`; write_lsn and flush_lsn become
  // `start`. An open segment is fsynced and closed first. At a segment boundary the
  // segment file is created (or an existing full-size one reused). Mid-segment, the
  // segment file (".partial" for kArchive) must already exist with full size and is
  // continued at the offset: FailedPrecondition when it does not exist, DataLoss when its
  // size is wrong. The caller vouches that the file's bytes before `start` are the
  // stream's (normally `start` is the persisted flush position).
  absl::Status Start(TimelineId tli, Lsn start);

  // Writes `bytes`, which must begin at write_lsn(): otherwise DataLoss naming both
  // positions and nothing is written (the writer stays usable). Splits at segment
  // boundaries, sealing each completed segment (fsync, rename for kArchive, fsync dir).
  // Advances write_lsn, not flush_lsn.
  absl::Status Append(Lsn start, absl::string_view bytes);

  // fsyncs the open segment, then advances flush_lsn to write_lsn and wakes waiters.
  absl::Status Flush();

  // The current timeline ended at `switch_lsn` and `new_tli` follows it. Everything
  // written must lie at or before the switch point and reach at least the switch point's
  // segment (FailedPrecondition otherwise: WAL past the switch point diverges, and a gap
  // before its segment would be lost). The old timeline's last segment is fsynced and
  // left as it is (".partial" for kArchive), then the writer restarts with
  // Start(new_tli, segment start of switch_lsn): the caller re-streams that segment on
  // the new timeline from its start, into a file with the new timeline's name.
  absl::Status SwitchTimeline(TimelineId new_tli, Lsn switch_lsn);

  // fsyncs and closes the open segment (a .partial stays .partial); flush_lsn becomes
  // write_lsn. Append needs a new Start afterwards. Returns the failure if failed.
  absl::Status Close();

  // Stores a timeline history file in the WAL directory (see timeline_history.h).
  absl::Status WriteHistoryFile(TimelineId tli, absl::string_view content);

  // Blocks until flush_lsn() > lsn, the writer fails, or `timeout` passes. Returns
  // whether flush_lsn() > lsn.
  bool WaitForFlushBeyond(Lsn lsn, absl::Duration timeout) const;

  Lsn write_lsn() const { return Lsn(write_lsn_.load(std::memory_order_acquire)); }
  Lsn flush_lsn() const { return Lsn(flush_lsn_.load(std::memory_order_acquire)); }
  TimelineId timeline() const { return tli_.load(std::memory_order_acquire); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // OK unless failed().
  absl::Status failure() const;

  const Options& options() const { return options_; }

 private:
  explicit WalWriter(Options options);

  std::string SegmentPath(TimelineId tli, uint64_t segno) const;
  // Opens (creating at offset 0 if needed) the segment file for `segno`.
  absl::Status OpenSegment(TimelineId tli, uint64_t segno, uint64_t offset);
  absl::Status CreatePaddedFile(const std::string& path);
  // fsync + close of the open segment; with `seal`, the rename to the final name too.
  absl::Status CloseSegment(bool seal);
  // Records the first failure, drops the open file, returns the failure.
  absl::Status Fail(absl::Status status);
  void SetFlushed(Lsn lsn);

  const Options options_;
  FileOps* const ops_;

  // Owned by the mutating thread.
  bool started_ = false;
  // A segment file was created (renamed into place) since the last directory fsync.
  bool dir_sync_pending_ = false;
  std::unique_ptr<File> file_;
  uint64_t file_segno_ = 0;

  std::atomic<uint64_t> write_lsn_{0};
  std::atomic<uint64_t> flush_lsn_{0};  // stored with mu_ held, so waiters see changes
  std::atomic<TimelineId> tli_{0};
  std::atomic<bool> failed_{false};

  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_WRITER_H_
