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
  // `observer`, when set, is called on the tailer's thread with every complete line (no
  // newline), forwarded or not, in file order — never with a piece of a line longer than
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

 private:
  void Run(uint64_t offset, ino_t inode);
  // Removes the file's oldest bytes once `offset` (read up to there) passes max_bytes_;
  // returns how many bytes were removed from the start (offsets shift down by that).
  uint64_t Cap(int fd, uint64_t offset);
  // Waits for a write to the watched file, Stop(), or kPollInterval; whether a write
  // ended it.
  bool Wait(int inotify_fd);
  // `whole`: a complete line (not a piece of one longer than kMaxLine).
  void Emit(absl::string_view line, bool whole);

  const std::string path_;
  const std::shared_ptr<spdlog::logger> logger_;
  const std::vector<std::string> expected_;
  const LineObserver observer_;
  const uint64_t max_bytes_;
  bool truncation_logged_ = false;  // thread only
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  int stop_fd_ = -1;  // an eventfd: Stop() ends the thread's wait at once
  // Level of the last forwarded severity line, for its DETAIL/HINT lines (thread only).
  std::optional<spdlog::level::level_enum> last_level_;
};

}  // namespace walrep

#endif  // WALREP_ENGINE_LOG_TAILER_H_
