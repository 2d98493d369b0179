// WalReadWatch: tells when a reader of a WAL directory has closed a segment it had open
// for reading — for a standby fed through its pg_wal, the moment its startup process
// reached the end of the WAL it could read.
//
// Why that moment: PostgreSQL's startup process, reading WAL from pg_wal, closes the
// segment when the next record cannot be read (ReadRecord, on a NULL record) — after it
// has replayed every record before that point — and then waits for more. So a close is
// the one observable event after which pg_last_wal_replay_lsn() has moved as far as the
// WAL present allows; asking the server then, instead of every few milliseconds, lets the
// apply position be learnt as soon as replay reaches it. Other closes (a read-ahead moving
// to the next segment, pg_basebackup or an archiver reading the directory) only cost one
// look that finds the position unchanged.
//
// An inotify watch for IN_CLOSE_NOWRITE on the directory (closes of files opened for
// writing — walrep's own — are not reported) and an eventfd that ends a wait early.
//
// Thread-safety: Interrupt() from any thread; Wait() by one thread.
#ifndef WALREP_ENGINE_WAL_READ_WATCH_H_
#define WALREP_ENGINE_WAL_READ_WATCH_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace walrep {

class WalReadWatch {
 public:
  static absl::StatusOr<std::unique_ptr<WalReadWatch>> Create(const std::string& wal_dir);
  ~WalReadWatch();
  WalReadWatch(const WalReadWatch&) = delete;
  WalReadWatch& operator=(const WalReadWatch&) = delete;

  enum class Event { kSegmentClosed, kInterrupted, kTimeout };
  // Blocks until a WAL segment (a 24-hex-digit name) opened for reading is closed, until
  // Interrupt(), or until `deadline`. A close that happened since the last Wait is
  // reported at once (before an Interrupt()).
  Event Wait(absl::Time deadline);
  // Ends the current or next Wait() with kInterrupted.
  void Interrupt();

 private:
  WalReadWatch(int inotify_fd, int event_fd) : inotify_fd_(inotify_fd), event_fd_(event_fd) {}
  // Reads the pending events; whether one was a segment's close.
  bool ReadEvents();

  const int inotify_fd_;
  const int event_fd_;
};

}  // namespace walrep

#endif  // WALREP_ENGINE_WAL_READ_WATCH_H_
