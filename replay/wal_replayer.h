// WalReplayer: the replay loop. A thread that reads the durable WAL (never past the WAL
// writer's flush_lsn) from the segment files, record by record from apply_lsn on, verifies
// each with a WalDecoder (retain mode: CRC, chain, block headers) and hands it to the
// engine's WalReplayHandler. apply_lsn is the end of the last record applied; it lags the
// flush position by what is not yet read. WAL below the flush position that fails
// verification was fsynced intact and has since been damaged: replay stops at the last
// good record with a sticky DataLoss naming the LSN.
//
// It wakes when the flush position moves (Wake) and at least every tick, so a missed
// wake-up only delays it. Replay lag is the age of the oldest flushed WAL not yet
// applied (0 when apply has reached the flush position: an idle, caught-up replica has
// no lag however long ago its last commit was).
// Start/Stop from one thread; everything else from any thread.
#ifndef WALREP_REPLAY_WAL_REPLAYER_H_
#define WALREP_REPLAY_WAL_REPLAYER_H_

#include <atomic>
#include <bitset>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay/file_ops.h"
#include "replay/flush_times.h"
#include "replay/replay_handler.h"
#include "replay/wal_decoder.h"
#include "replay/wal_files.h"
#include "wire/lsn.h"

namespace walrep {

inline constexpr absl::Duration kDefaultReplayTick = absl::Milliseconds(250);

class WalReplayer {
 public:
  struct Options {
    std::string dir;
    uint64_t segment_size = uint64_t{16} << 20;
    FileOps* file_ops = nullptr;           // nullptr: DefaultFileOps()
    std::function<Lsn()> durable;          // the WAL writer's flush_lsn
    std::function<TimelineId()> timeline;  // the WAL writer's timeline
    WalReplayHandler* handler = nullptr;
    const RecentWal* recent = nullptr;     // the writer's, to read new WAL from memory
    std::function<void()> on_advance;      // after apply_lsn moved (notify watchers)
    absl::Duration tick = kDefaultReplayTick;
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  explicit WalReplayer(Options options);
  ~WalReplayer() { Stop(); }

  // Replay continues after the record ending at `from` (which started at `prev`,
  // Lsn() if unknown). Until Start, apply_lsn is `from`. `segment_size` as for
  // ResetAtSegment (an archive first filled from a bootstrap's WAL learns it so).
  void Reset(Lsn from, Lsn prev, uint64_t segment_size = 0);
  // Replay begins at the segment boundary `segment`, where the receiver started a fresh
  // archive (record alignment unknown: the first page's continuation is skipped).
  // `segment_size` (when not 0) replaces the segment size: an empty archive learns it
  // from the primary before its first segment.
  void ResetAtSegment(Lsn segment, uint64_t segment_size = 0);
  // Reset(from, prev) if replay went past `from` — checked and done between two replay
  // batches, so a batch begun before the caller moved the durable position down (a
  // timeline that forked below it) cannot carry apply past `from` after the check.
  // Returns whether it reset.
  bool ResetIfPast(Lsn from, Lsn prev);
  // Replay is stopped for good with `status` (a DataLoss found by recovery).
  void SetFailed(absl::Status status);
  void Start();
  void Stop();
  // The flush position moved to `lsn` (at the current time): replay has work.
  void Wake(Lsn lsn = Lsn());
  // Replays on the caller's thread what is durable now, when that is at most
  // `max_bytes` and the replay thread is not busy: the receiver calls it right after it
  // acknowledged a flush, so that a commit waiting for apply feedback is replayed without
  // a thread hand-off. Returns whether apply reached the durable position.
  bool ReplayInline(uint64_t max_bytes);
  // How many commit records asking for apply feedback (XACT_COMPLETION_APPLY_FEEDBACK:
  // the committing session waits with synchronous_commit = remote_apply) have been
  // replayed. When it moves, the receiver sends a status update at once, as PostgreSQL's
  // startup process makes the walreceiver reply.
  uint64_t feedback_requests() const { return feedback_requests_.load(std::memory_order_acquire); }

  Lsn apply_lsn() const { return Lsn(apply_lsn_.load(std::memory_order_acquire)); }
  // OK unless replay stopped on damaged WAL (DataLoss) or an I/O error.
  absl::Status failure() const;
  // Blocks until apply_lsn >= lsn, replay fails, or the timeout passes.
  bool WaitForApply(Lsn lsn, absl::Duration timeout) const;
  // Age of the oldest flushed WAL not yet applied; zero when caught up.
  absl::Duration lag() const;

 private:
  void Run();
  // Replays what is durable now; returns false after a failure.
  bool ReplayAvailable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(replay_mu_);
  void Fail(absl::Status status);
  void ResetLocked(Lsn from, Lsn prev, bool at_page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(replay_mu_);

  Options options_;
  // The resource managers whose records replay assembles whole (WalDecoder::Options).
  std::bitset<kBodyKinds> keep_body_;
  std::atomic<uint64_t> apply_lsn_{0};
  std::atomic<uint64_t> feedback_requests_{0};

  // The reading side, used by whichever thread replays (the replay thread, or the
  // receiver in ReplayInline); the decoder stays positioned at apply_lsn between calls.
  absl::Mutex replay_mu_;
  uint64_t segment_size_ ABSL_GUARDED_BY(replay_mu_);
  std::unique_ptr<WalDecoder> decoder_ ABSL_GUARDED_BY(replay_mu_);
  std::unique_ptr<WalFileFeeder> feeder_ ABSL_GUARDED_BY(replay_mu_);
  TimelineId chain_tli_ ABSL_GUARDED_BY(replay_mu_) = 0;

  mutable absl::Mutex mu_;
  mutable absl::CondVar cv_;  // apply moved, failure, stop (WaitForApply)
  absl::CondVar work_cv_;     // work or stop (the replay thread waits on this alone)
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool work_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  FlushTimes flushes_ ABSL_GUARDED_BY(mu_);  // what lag() measures against
  std::thread thread_;
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_REPLAYER_H_
