// The WAL that makes a base backup consistent, fetched the way `pg_basebackup -X stream`
// does: a second replication connection creates a TEMPORARY physical slot before
// BASE_BACKUP starts (so the primary keeps every segment from the backup's start), and
// once the start position is known a thread streams from the start of that segment into
// <target>/pg_wal with final segment names (WalWriter Layout::kInPlace, what a startable
// data directory needs), acknowledging with standby status updates every second and
// whenever the primary asks, until the end it is given has been written and flushed: the
// primary's WAL position once the backup ended (backup_job.cc), which lies past the
// backup's end LSN and the XLOG_SWITCH the primary writes after it.
//
// Thread-safety: Open/Start/SetEndLsn/WaitDone/Stop are called by the backup job's thread;
// the streaming thread owns the connection and the writer after Start. The destructor
// stops and joins the thread.
#ifndef WALREP_BACKUP_BACKUP_WAL_STREAM_H_
#define WALREP_BACKUP_BACKUP_WAL_STREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "replay/wal_writer.h"
#include "wire/connection.h"
#include "wire/conninfo.h"
#include "wire/lsn.h"
#include "wire/replication_results.h"

namespace walrep {

class BackupWalStream {
 public:
  // Connects, runs IDENTIFY_SYSTEM, reads wal_segment_size and creates the temporary slot.
  static absl::StatusOr<std::unique_ptr<BackupWalStream>> Open(const ConnInfo& conninfo,
                                                               const ConnectionOptions& options);
  ~BackupWalStream();  // Stop()

  BackupWalStream(const BackupWalStream&) = delete;
  BackupWalStream& operator=(const BackupWalStream&) = delete;

  const IdentifySystemResult& identity() const { return identity_; }
  const std::string& slot_name() const { return slot_; }
  uint64_t segment_size() const { return segment_size_; }
  int server_version_num() const { return server_version_num_; }

  // Nothing received for this long fails the stream with Unavailable (half of it asks
  // the primary for a reply); zero or infinite: no limit. Before Start.
  void set_receiver_timeout(absl::Duration timeout) { receiver_timeout_ = timeout; }
  // Starts the streaming thread: WAL from the segment start of `start` on `tli` into
  // `wal_dir` (created if missing).
  absl::Status Start(const std::string& wal_dir, TimelineId tli, Lsn start);
  // The thread finishes once everything before `end` (at or past the backup's end) is
  // written and flushed.
  void SetEndLsn(Lsn end);
  // Waits up to `timeout` for the thread to finish; true when it has (see result()).
  bool WaitDone(absl::Duration timeout);
  // True once the thread has stopped, successfully or not.
  bool done() const { return done_.HasBeenNotified(); }
  // The thread's outcome; only meaningful once done().
  absl::Status result() const;
  Lsn flush_lsn() const;
  // Aborts the stream (closing the connection) and joins the thread. Idempotent.
  void Stop();

 private:
  BackupWalStream() = default;
  void Run();
  absl::Status Stream();

  std::unique_ptr<PgConnection> conn_;
  IdentifySystemResult identity_;
  std::string slot_;
  uint64_t segment_size_ = 0;
  int server_version_num_ = 0;

  std::unique_ptr<WalWriter> writer_;
  TimelineId tli_ = 0;
  Lsn start_;
  std::atomic<uint64_t> end_lsn_{0};  // 0: not known yet
  absl::Duration receiver_timeout_ = absl::ZeroDuration();
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Notification done_;
  mutable absl::Mutex mu_;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
};


}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_WAL_STREAM_H_
