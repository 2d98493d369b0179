// Forwards PostgreSQL's own log lines at WARNING and above to walrep's log (spdlog logger
// "postgres"), so an operator reading the agent's log sees why the server refused to
// start, crashed or rejected a connection. It tails the server's log file rather than
// reading a pipe: a restarted agent that adopts the running server picks the file up again,
// and the server never blocks on a full pipe while the agent is down.
// The tailer wakes on inotify's IN_MODIFY for the file, so a line is seen as soon as it is
// written — an observer can act on it (PostgresEngine learns its replay position from the
// startup process's lines, startup_log.h) — and looks again every kPollInterval to follow
// a file that appears or is replaced.
// The classifier is pure; the tailer owns one thread, joined by Stop() or the destructor.
// Thread-safe.
#ifndef WALREP_ENGINE_LOG_TAILER_H_
#define WALREP_ENGINE_LOG_TAILER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace walrep {

struct PostgresLogLine {
  enum class Kind { kSeverity, kDetail, kOther };
  Kind kind = Kind::kOther;
  // For kSeverity: the spdlog level (WARNING -> warn, ERROR/FATAL -> err, PANIC ->
  // critical; LOG, INFO, NOTICE, DEBUG* -> debug, i.e. not forwarded by default).
  spdlog::level::level_enum level = spdlog::level::debug;
};

// Classifies one line of server output by the first "SEVERITY:  " marker in it (after any
// log_line_prefix); DETAIL/HINT/CONTEXT/STATEMENT/QUERY/LOCATION lines are kDetail (they
// belong to the line before), anything else (startup chatter, a second line of a
// statement) kOther.
PostgresLogLine ClassifyPostgresLogLine(absl::string_view line);

class LogTailer {
 public:
  // Warnings containing one of `expected` (and their DETAIL/HINT lines) are logged at info:
  // ones walrep's own configuration causes on purpose, which would only cry wolf.
  // `observer`, when set, is called on the reading thread (the tailer's, or ReadNow's
  // caller) with every complete line (no newline), forwarded or not, in file order — never with a piece of a line longer than
  // 64 KiB (forwarded in pieces), whose later pieces begin in the middle of a message.
  using LineObserver = std::function<void(absl::string_view line)>;
  LogTailer(std::string path, std::shared_ptr<spdlog::logger> logger,
            std::vector<std::string> expected = {}, LineObserver observer = nullptr,
            uint64_t max_bytes = kMaxFileBytes);
  ~LogTailer();  // Stop()
  LogTailer(const LogTailer&) = delete;
  LogTailer& operator=(const LogTailer&) = delete;

  // Starts the thread, reading from the file's current end (what was there before is
  // already in an earlier agent's log, or history). No-op when running.
  void Start();
  void Stop();

  // The file is kept to its newest bytes: once the tailer has read past this size, the
  // oldest part (all but about half of it, in whole blocks) is removed from the file's
  // start. A standby fed through pg_wal logs two lines at LOG each time replay reaches
  // the end of what walrep flushed ("invalid record length at", "waiting for WAL to
  // become available at") — hundreds of KiB a second under a write load, and a line every
  // wal_retrieve_retry_interval when idle — and nothing else ever removes them (the
  // server writes its stderr, with no logging collector to rotate it). Everything at
  // WARNING and above is in walrep's own log too.
  // FALLOC_FL_COLLAPSE_RANGE removes the bytes while the server keeps appending (its
  // stderr is O_APPEND), so no line is lost; where the file system cannot do that (tmpfs),
  // the file is truncated once read to its end.
  static constexpr uint64_t kMaxFileBytes = uint64_t{64} << 20;

  // How long the thread sleeps when there is nothing new and no write wakes it.
  static constexpr absl::Duration kPollInterval = absl::Milliseconds(100);

  // Reading on another thread's time. A thread that waits anyway (the replica stream,
  // for the primary's messages) can watch watch_fd() (an inotify descriptor, readable
  // after a write to the file; -1 without inotify) and call ReadNow() when it wakes:
  // the lines are then handled on that thread, as soon as written, without a hand-off
  // from the tailer's thread (a wait for a core each time: ~100 µs on a busy 2-core
  // machine, on the path of every remote_apply commit). ReadNow consumes the
  // descriptor's events. While ReadNow calls come (one within 2 × kPollInterval), the
  // tailer's own thread leaves the events to them and only looks every kPollInterval
  // (the path, the cap, anything left); when they stop, it watches the file again.
  // Lines are delivered once each, in file order, whichever thread reads them.
  // No-op while stopped.
  int watch_fd() const { return inotify_fd_; }
  void ReadNow();

 private:
  void Run();
  // Reads what is new (following the path as `tail -F` does) and emits its lines;
  // `may_cap`: also trims the file (Cap) — left to the tailer's thread.
  void ReadLocked(bool may_cap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  // Removes the file's oldest bytes once `offset` (read up to there) passes max_bytes_;
  // returns how many bytes were removed from the start (offsets shift down by that).
  uint64_t Cap(int fd, uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  // Waits for a write to the watched file (unless ReadNow calls are coming), Stop(), or
  // kPollInterval.
  void Wait();
  // Reads the inotify events pending; whether there were any.
  bool DrainEvents();
  // `whole`: a complete line (not a piece of one longer than kMaxLine).
  void Emit(absl::string_view line, bool whole) ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);

  const std::string path_;
  const std::shared_ptr<spdlog::logger> logger_;
  const std::vector<std::string> expected_;
  const LineObserver observer_;
  const uint64_t max_bytes_;
  const int inotify_fd_;  // -1 without inotify (an exhausted instance limit): polls only
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  int stop_fd_ = -1;  // an eventfd: Stop() ends the thread's wait at once
  // When ReadNow last ran (absl::ToUnixNanos).
  std::atomic<int64_t> last_read_now_{0};

  // The reading position and what goes with it, for whichever thread reads.
  absl::Mutex read_mu_;
  bool active_ ABSL_GUARDED_BY(read_mu_) = false;  // between Start and Stop
  int fd_ ABSL_GUARDED_BY(read_mu_) = -1;
  int watch_ ABSL_GUARDED_BY(read_mu_) = -1;
  uint64_t offset_ ABSL_GUARDED_BY(read_mu_) = 0;
  ino_t inode_ ABSL_GUARDED_BY(read_mu_) = 0;
  absl::Time path_checked_ ABSL_GUARDED_BY(read_mu_) = absl::InfinitePast();
  std::string pending_ ABSL_GUARDED_BY(read_mu_);
  // The rest of a line that was forwarded in pieces: its text past a piece's end is in the
  // middle of a message, and is never shown to the observer as a line of its own.
  bool continued_ ABSL_GUARDED_BY(read_mu_) = false;
  bool truncation_logged_ ABSL_GUARDED_BY(read_mu_) = false;
  // Level of the last forwarded severity line, for its DETAIL/HINT lines.
  std::optional<spdlog::level::level_enum> last_level_ ABSL_GUARDED_BY(read_mu_);
};

}  // namespace walrep

#endif  // WALREP_ENGINE_LOG_TAILER_H_
