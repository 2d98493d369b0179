// WalWriter: the WAL receiver's storage, and the one owner of the durable position.
// Takes WAL bytes in stream order, checks that each chunk starts exactly where the
// previous one ended, splits them at segment boundaries into PostgreSQL-named segment
// files, and follows the records in them with a constant-memory WalDecoder (page
// headers, record lengths, xl_prev chain, CRC-32C). Two positions:
//   write_lsn  - end of the bytes taken: handed to the kernel, or, while catching up
//                (the primary more than a segment ahead), staged until the next Flush;
//   flush_lsn  - end of the last complete, verified record inside the bytes known
//                durable (fdatasync done). The only position that may be reported to a
//                primary as flushed (PROTOCOL.md §3), shown as flushed anywhere, or used
//                as a switch point. A walsender often sends up to a page boundary in the
//                middle of a record: reporting less than the byte position is always
//                safe (a commit waits only for its own record's end), and after a crash
//                only a record's CRC can prove its tail was written, so the recovery
//                scan (wal_recovery.h) finds exactly this position again.
// Two layouts (WAL_FILES.md):
//   kArchive  - pg_receivewal: the segment being written is "<name>.partial"; when it is
//               complete it is fsynced, renamed to "<name>" and the directory fsynced.
//   kInPlace  - walreceiver: segments carry their final name from the start (a local
//               standby replays them while they fill).
// While catching up (set_catching_up) a kArchive segment is written through a
// SegmentStage: aligned blocks with O_DIRECT, the last partial block held in the stage
// until the next Flush (segment_stage.h says why). kInPlace is not staged: the local
// server reads those files as they fill, and would then read them from the device. Nor
// is a caught-up stream: a synchronous commit's few hundred bytes go out by one buffered
// pwrite and the Flush's fdatasync. Staged with O_DIRECT they cost the same device write
// and cache flush plus a wake-up between them (measured: tools/bench/README.md, "The
// synchronous-commit acknowledgement path").
// Either way a segment file is created at full size, zero-filled (via a temporary and a
// rename, so a segment-named file always has the full size). Bytes past flush_lsn are
// zeros, stale data or a torn record: only the prefix up to flush_lsn is meaningful.
//
// Any failed write, fsync, close or rename makes the writer *failed* for good: every
// later Start/Append/Flush/SwitchTimeline returns that first error and flush_lsn never
// moves again (after a failed fsync the kernel may have dropped the dirty pages, so
// retrying could report bytes as durable that are not). WAL bytes that do not decode
// (a primary sending garbage) are DataLoss for that Append and leave the writer usable.
//
// Thread-safety: the mutating calls (Start*, Resume, Append, Flush, SwitchTimeline,
// BeginTimeline, Close, WriteHistoryFile) must come from one thread at a time (the
// streaming session, or the agent while no session runs). write_lsn(), flush_lsn(),
// last_record(), timeline(), positioned(), failed(), failure() and WaitForFlushBeyond()
// may be called from any thread.
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
#include "absl/types/span.h"
#include "replay/file_ops.h"
#include "replay/recent_wal.h"
#include "replay/segment.h"
#include "replay/segment_stage.h"
#include "replay/wal_decoder.h"
#include "wire/lsn.h"

namespace walrep {

class WalWriter {
 public:
  enum class Layout { kArchive, kInPlace };

  struct Options {
    std::string dir;  // created (one level, synced into its parent) if missing
    // false: `dir` is not created here; it must exist before the writer is positioned
    // (a standby's pg_wal, made by the base backup).
    bool create_dir = true;
    // Called with each file the writer creates (a segment's temporary before its rename,
    // a history file once written), e.g. to give it to the local server's OS user.
    std::function<absl::Status(const std::string& path)> on_file_created;
    uint64_t segment_size = kDefaultSegmentSize;
    Layout layout = Layout::kArchive;
    FileOps* file_ops = nullptr;  // nullptr: DefaultFileOps()
    // Called on the flushing thread, without internal locks held, each time flush_lsn
    // advances (e.g. to wake an apply tracker). Must not call back into the writer's
    // mutating methods.
    std::function<void(Lsn)> on_flush;
    // Given every byte written, in stream order, for replay to read back from memory
    // (recent_wal.h); nullptr: none.
    RecentWal* recent = nullptr;
    // Bytes per buffer of the catch-up stage (segment_stage.h): a multiple of 4 KiB
    // dividing every segment size. Tests use less than a segment, to have full buffers
    // queued while the segment is still open.
    size_t stage_buffer = size_t{1} << 20;
  };

  // InvalidArgument for an empty dir or invalid segment size; Internal if the directory
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<WalWriter>> Create(Options options);

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;
  // Closes an open segment without fsync (call Close() for a durable stop).
  ~WalWriter();

  // Positions the writer at `start` on timeline `tli`, a segment boundary where record
  // alignment is unknown (a fresh archive): decoding skips the first page's continuation
  // and flush_lsn starts at `start`. An open segment is fsynced and closed first. The
  // segment file is created (or an existing full-size one reused). InvalidArgument when
  // `start` is not a segment boundary.
  absl::Status StartAtSegment(TimelineId tli, Lsn start);

  // Positions the writer at `record`, the end of a record already durable in the files
  // (recovered by wal_recovery.h, or the writer's own flush_lsn); `prev` is that
  // record's start (Lsn() when unknown). write_lsn and flush_lsn become `record`.
  // Mid-segment the segment file must exist with full size (".partial", or the final
  // name when the segment was already sealed) and is continued at the offset:
  // FailedPrecondition when it does not exist, DataLoss when its size is wrong.
  absl::Status StartAtRecord(TimelineId tli, Lsn record, Lsn prev);

  // A new session continues at the durable position: StartAtRecord(timeline(),
  // flush_lsn(), last_record()). Bytes written past it are written again.
  // FailedPrecondition when the writer was never positioned.
  absl::Status Resume();

  // Writes `bytes`, which must begin at write_lsn(): otherwise DataLoss naming both
  // positions and nothing is written (the writer stays usable). Bytes that do not decode
  // as WAL are DataLoss too, before anything is written. Splits at segment boundaries,
  // sealing each completed segment (fsync, rename for kArchive, fsync dir). Advances
  // write_lsn, not flush_lsn.
  absl::Status Append(Lsn start, absl::string_view bytes);
  // Memory in the ring of recent WAL (Options::recent) for up to `n` bytes at `start`,
  // for the stream to receive WAL into; an Append of those bytes where they lie then
  // copies nothing. Empty unless `start` is write_lsn() and the ring continues there
  // (see RecentWal::Space); valid until the next mutating call.
  absl::Span<char> ReceiveSpace(Lsn start, size_t n);

  // fsyncs the open segment, then advances flush_lsn to the end of the last complete
  // record written and wakes waiters.
  absl::Status Flush();

  // The stream's view of whether it is catching up (more than a segment behind the
  // primary). New segments are then created sparse (full size, reading as zeros) instead
  // of written full of zeros first: zero-filling doubled what a catch-up writes, and its
  // one fdatasync per batch makes the block allocation a hole needs cheap. Once caught up,
  // the open segment's unwritten rest is zero-filled at the next Flush (and new segments
  // are zero-filled again), so that a synchronous commit's fdatasync overwrites allocated
  // blocks only, as PostgreSQL's own WAL files are prepared.
  void set_catching_up(bool catching_up) { catching_up_ = catching_up; }
  bool catching_up() const { return catching_up_; }

  // The current timeline ended at `switch_lsn` and `new_tli` follows it. What was
  // written must reach the switch point's segment (FailedPrecondition otherwise: a gap
  // before it would be lost). WAL of this timeline past the switch point — written, or
  // even durable when the new timeline forked below it (a standby promoted from behind
  // us) — is left in this timeline's files untouched, as pg_receivewal leaves it; the
  // durable position becomes the switch point, on the new timeline. Then
  // BeginTimeline(new_tli, min(write_lsn, switch_lsn)).
  absl::Status SwitchTimeline(TimelineId new_tli, Lsn switch_lsn);

  // Opens timeline `new_tli` at `at` (at or below write_lsn): its segment holding `at` is
  // created holding this timeline's bytes before `at` — as PostgreSQL writes the first
  // segment of a new timeline — atomically (temporary, fsync, rename, fsync dir), so a
  // crash leaves either no file or a complete prefix, and the archive stays one chain of
  // valid WAL. The old timeline's segment is fsynced and left as it is (".partial" for
  // kArchive). The writer continues at `at` on `new_tli`.
  absl::Status BeginTimeline(TimelineId new_tli, Lsn at);

  // fsyncs and closes the open segment (a .partial stays .partial); flush_lsn becomes
  // the end of the last complete record. Append needs a new Start afterwards. Returns
  // the failure if failed.
  absl::Status Close();

  // Stores a timeline history file in the WAL directory (see timeline_history.h).
  absl::Status WriteHistoryFile(TimelineId tli, absl::string_view content);

  // Blocks until flush_lsn() > lsn, the writer fails, or `timeout` passes. Returns
  // whether flush_lsn() > lsn.
  bool WaitForFlushBeyond(Lsn lsn, absl::Duration timeout) const;

  Lsn write_lsn() const { return Lsn(write_lsn_.load(std::memory_order_acquire)); }
  Lsn flush_lsn() const { return Lsn(flush_lsn_.load(std::memory_order_acquire)); }
  // Start of the record ending at flush_lsn() (Lsn() when none was seen yet).
  Lsn last_record() const { return Lsn(last_record_.load(std::memory_order_acquire)); }
  // Whether the writer holds a position (it was started once in this process).
  bool positioned() const { return positioned_.load(std::memory_order_acquire); }
  // Whether flush_lsn() is the end of a verified record: false from a StartAtSegment
  // (a segment boundary, record alignment unknown) until the first record there is
  // complete and durable. Only such a position is an end of WAL that a new timeline
  // may begin at.
  bool at_record_end() const {
    return positioned() && (last_record().valid() || !IsSegmentBoundary(flush_lsn(), segment_size()));
  }
  // The system identifier of the WAL written (0 before a long page header was seen).
  uint64_t system_id() const { return system_id_.load(std::memory_order_acquire); }
  TimelineId timeline() const { return tli_.load(std::memory_order_acquire); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // OK unless failed().
  absl::Status failure() const;

  // Bytes written with O_DIRECT so far (catch-up of a kArchive directory).
  uint64_t direct_bytes() const { return stage_.direct_bytes(); }

  // The options it was created with; the segment size is segment_size()'s.
  const Options& options() const { return options_; }
  uint64_t segment_size() const { return segment_size_.load(std::memory_order_acquire); }
  // An empty archive learns its segment size from the primary: allowed until the writer
  // is positioned the first time, FailedPrecondition afterwards (its files have a size).
  absl::Status SetSegmentSize(uint64_t segment_size);
  // Whether `bytes` at `start` equal what was written there (re-sent WAL below
  // write_lsn, inside the open segment). DataLoss "WAL diverged at X/X ..." naming the
  // first differing byte; FailedPrecondition when the range is not in the open segment.
  // Same thread rule as the mutating calls.
  absl::Status CompareWritten(Lsn start, absl::string_view bytes) const;

 private:
  explicit WalWriter(Options options);

  std::string SegmentPath(TimelineId tli, uint64_t segno) const;
  std::string FinalPath(TimelineId tli, uint64_t segno) const;
  absl::Status Position(TimelineId tli, Lsn start);
  // Renames the previous segment's ".partial" to its final name when `record` (a
  // verified record end) is the segment boundary after it.
  absl::Status SealCompletedPartial(TimelineId tli, Lsn record);
  // Opens (creating at offset 0 if needed) the segment file for `segno`.
  absl::Status OpenSegment(TimelineId tli, uint64_t segno, uint64_t offset);
  // Creates `path` at full size: `prefix`, then zeros (written, or a hole when `sparse`);
  // with `sync`, fsynced before the rename (a prefix must be durable before its name is).
  absl::Status CreatePaddedFile(const std::string& path, absl::string_view prefix = {},
                                bool sync = false, bool sparse = false);
  // Writes zeros from `offset` to the end of the open segment.
  absl::Status ZeroFill(File& f, uint64_t offset);
  // What lends the stage the bytes of the segment starting at LSN `segment_start`: the
  // recent ring, when there is one whose chunks match the stage's buffers; else nothing.
  SegmentStage::Source StageSource(uint64_t segment_start) const;
  // Feeds `bytes` (which start at write_lsn) to the decoder; DataLoss if they break.
  absl::Status Decode(absl::string_view bytes);
  // fsync + close of the open segment; with `seal`, the rename to the final name too.
  absl::Status CloseSegment(bool seal);
  // Records the first failure, drops the open file, returns the failure.
  absl::Status Fail(absl::Status status);
  void SetFlushed(Lsn lsn, Lsn record);

  const Options options_;
  FileOps* const ops_;

  // Owned by the mutating thread.
  bool started_ = false;
  SegmentStage stage_;  // the open file's, while catching up (kArchive)
  bool direct_refusal_logged_ = false;
  // A segment file was created (renamed into place) since the last directory fsync.
  bool dir_sync_pending_ = false;
  std::unique_ptr<File> file_;
  uint64_t file_segno_ = 0;
  bool file_final_ = false;  // the open file already has its final name (sealed earlier)
  bool catching_up_ = false;
  bool file_sparse_ = false;  // the open file was created sparse and not zero-filled since
  // Every byte below this was fdatasynced (the open file's, or in sealed segments).
  uint64_t synced_ = 0;
  std::unique_ptr<WalDecoder> decoder_;
  // The decoder's last record end and start after the last chunk that decoded and was
  // written: what the next Flush may claim.
  Lsn decoded_end_;
  Lsn decoded_start_;

  std::atomic<uint64_t> segment_size_;
  std::atomic<uint64_t> write_lsn_{0};
  std::atomic<uint64_t> flush_lsn_{0};  // stored with mu_ held, so waiters see changes
  std::atomic<uint64_t> last_record_{0};
  std::atomic<bool> positioned_{false};
  std::atomic<uint64_t> system_id_{0};
  std::atomic<TimelineId> tli_{0};
  std::atomic<bool> failed_{false};

  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_WRITER_H_
