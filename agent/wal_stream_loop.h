// The COPY BOTH half of a physical replication session, the one loop shared by the
// replica's stream and the base backup's WAL stream: XLogData checked for continuity and
// appended to the WAL store (bytes re-sent below what is stored are compared, never
// rewritten), fsynced once per batch (a batch ends when nothing more is waiting on the
// socket), acknowledged right after the fsync with the store's durable position;
// keepalives answered; status updates at the interval; dead-link detection like
// wal_receiver_timeout; and the three ends of a COPY — the primary's end of timeline
// (CopyDone, then its capped result), its shutdown (CommandComplete without CopyDone),
// and ours (stop requested or the caller's end position reached: flush, report,
// CopyDone, drain).
//
// Runs on one thread, the owner of the connection and of the writer's mutating calls.
#ifndef WALREP_AGENT_WAL_STREAM_LOOP_H_
#define WALREP_AGENT_WAL_STREAM_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "replay/wal_writer.h"
#include "wire/connection.h"
#include "wire/waker.h"
#include "wire/lsn.h"
#include "wire/replication_messages.h"

namespace walrep {

struct WalStreamOptions {
  absl::Duration status_interval = absl::Seconds(10);
  // Nothing received for this long ends the loop with Unavailable; half of it sends a
  // reply-requested status update. Zero disables.
  absl::Duration receiver_timeout = absl::ZeroDuration();
  const std::atomic<bool>* stop = nullptr;  // required
  // When it returns a valid position, the loop ends (kReachedEnd) once the WAL up to it
  // is written and flushed. nullptr: no end.
  std::function<Lsn()> end_lsn;
  // The apply position for status updates; nullptr reports none (0/0), as pg_receivewal.
  std::function<Lsn()> apply_lsn;
  // True when the apply position moved in a way the primary waits for (a remote_apply
  // commit replayed): a status update goes out at once.
  std::function<bool()> apply_report_due;
  // After a status update carried a flush position higher than the previous one.
  std::function<void(Lsn flushed)> on_acknowledged;
  // When the flush position has moved, just before the status update that reports it.
  std::function<void(Lsn flushed)> on_flushed;
  // Every message from the primary: its WAL end, and the WAL payload size (0 for a
  // keepalive).
  std::function<void(Lsn wal_end, uint64_t wal_bytes)> on_primary_message;
  std::function<void()> on_status_sent;
  // True while flushed WAL is not yet applied by a replayer that reports on its own time
  // (engine postgres): the loop then waits for messages in short slices, so an apply
  // advance reaches the primary at once (a remote_apply commit waits on it) instead of
  // after the next message or the 100 ms poll.
  std::function<bool(Lsn flushed)> apply_pending;
  // Fired by that replayer when its apply position moves: the loop's reads watch it, so
  // the advance is reported at once without the short slices (nullptr: slices).
  const Waker* apply_waker = nullptr;
  // Called on the loop's thread whenever one of its waits saw apply_waker fire, and before
  // each fdatasync, ahead of the apply check: consumes what the descriptors apply_waker
  // watches besides its own (Waker::Watch) say — engine postgres reads its server's log
  // here, so an end-of-WAL line is turned into an apply report on this thread.
  std::function<void()> on_wake;
  // Hot standby feedback sent with every periodic status update (nullptr: none).
  std::function<std::optional<HotStandbyFeedback>()> hot_standby_feedback;
};

struct WalStreamEnd {
  enum class Kind {
    kStopRequested,    // *stop was set; flushed, reported, CopyDone sent and drained
    kReachedEnd,       // end_lsn() written and flushed; CopyDone sent and drained
    kEndOfTimeline,    // the primary's timeline ended: next_timeline at switchpoint
    kPrimaryShutDown,  // CommandComplete without CopyDone; the connection is closed
  };
  Kind kind = Kind::kStopRequested;
  TimelineId next_timeline = 0;
  Lsn switchpoint;
};

// At most this much of the end-of-timeline result (and anything before its
// ReadyForQuery) is read before the primary is considered broken.
inline constexpr uint64_t kMaxEndOfCopyBytes = 64 << 10;

class WalStreamLoop {
 public:
  WalStreamLoop(PgConnection& conn, WalWriter& writer, WalStreamOptions options);

  // Call once START_REPLICATION entered COPY BOTH. Errors: DataLoss for a gap or
  // malformed message (nothing past it written), Terminal(DIVERGED) for re-sent bytes
  // that differ from the stored ones, Unavailable for a dead link, the writer's failure.
  absl::StatusOr<WalStreamEnd> Run();

  // Whether any XLogData arrived.
  bool received_wal() const { return received_wal_; }

 private:
  absl::Status HandleXLogData(Lsn start, Lsn wal_end, absl::string_view data);
  // fsync if anything is unflushed, then report when the durable position moved or
  // `force_report`.
  absl::Status FlushAndReport(bool force_report);
  absl::Status SendStatus(bool reply_requested);
  absl::Status ReportApplyIfDue();
  absl::Status SendHotStandbyFeedback();
  absl::Status CheckReceiverTimeout(absl::Time now);
  // After the primary's CopyDone: our CopyDone, then its end-of-timeline result.
  absl::StatusOr<WalStreamEnd> FinishPrimaryCopy();
  // Our end: flush, report, CopyDone, read until ReadyForQuery (bounded), close.
  absl::StatusOr<WalStreamEnd> EndCopy(WalStreamEnd::Kind kind);

  // Has the WAL of a large XLogData received straight into the writer's ring of recent
  // WAL, where it is kept and written from (WalWriter::ReceiveSpace): no copy out of the
  // connection's buffer. Only WAL that continues the writer's position is placed.
  class RingPlacer : public CopyDataPlacer {
   public:
    explicit RingPlacer(WalWriter& writer) : writer_(writer) {}
    size_t head_size() const override { return kXLogDataHeaderSize; }
    absl::Span<char> Place(absl::string_view head, size_t rest) override;

   private:
    WalWriter& writer_;
  };

  PgConnection& conn_;
  WalWriter& writer_;
  RingPlacer placer_{writer_};
  const WalStreamOptions options_;
  Lsn reported_flush_;
  absl::Time next_status_;
  absl::Time last_receive_;
  bool ping_sent_ = false;  // a reply was requested since the last message
  bool received_wal_ = false;
  // Receipt of the oldest WAL not yet acknowledged (for the ack-latency histogram).
  absl::Time unacked_since_ = absl::InfiniteFuture();
};

// SHOW wal_segment_size on a replication connection, in bytes. DataLoss for an answer
// that is not a valid segment size.
absl::StatusOr<uint64_t> ReadWalSegmentSize(PgConnection& conn);
// "16MB" (SHOW wal_segment_size) → bytes; InvalidArgument unless a valid segment size.
absl::StatusOr<uint64_t> ParseWalSegmentSize(absl::string_view text);

}  // namespace walrep

#endif  // WALREP_AGENT_WAL_STREAM_LOOP_H_
