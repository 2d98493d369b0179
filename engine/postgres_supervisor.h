// PostgresSupervisor: runs the local PostgreSQL of engine "postgres" (DESIGN.md,
// "Engines") as CloudNativePG's instance manager does: configures the data directory
// (postgres_conf.h), starts the server as a child dropped to an unprivileged OS user or
// adopts one already running on that data directory after an agent restart, restarts it
// after a crash with exponential backoff, promotes it, and stops it (fast, then
// immediate). The server's WARNING-and-above log lines reach the "postgres" logger.
//
// Thread-safe: every method may be called from any thread; Start and Stop are serialized
// (a Stop waits for a Start in progress). One monitor thread (waiting on
// the server's pidfd) and one log-tailing thread run between Start() and Stop(); the
// destructor joins both without stopping the server, so that a restarted agent adopts it.
#ifndef WALREP_ENGINE_POSTGRES_SUPERVISOR_H_
#define WALREP_ENGINE_POSTGRES_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/log_tailer.h"
#include "engine/postgres_options.h"
#include "engine/postgres_version.h"
#include "engine/subprocess.h"

namespace walrep {

enum class PostgresState { kStopped, kStarting, kRecovering, kPromoting, kPrimary, kCrashed };

// "STOPPED", "STARTING", ... (for logs and metrics).
const char* PostgresStateName(PostgresState state);

class PostgresSupervisor {
 public:
  // `on_log_line` sees every line of the server's log as it is written (LogTailer).
  explicit PostgresSupervisor(PostgresOptions options,
                              LogTailer::LineObserver on_log_line = nullptr);
  ~PostgresSupervisor();  // stops supervising (does NOT stop postgres); joins threads
  PostgresSupervisor(const PostgresSupervisor&) = delete;
  PostgresSupervisor& operator=(const PostgresSupervisor&) = delete;

  // Writes <pgdata>/standby.signal when `standby` (removes it otherwise), walrep.conf,
  // walrep's hba file and the include line (postgres_conf.h). Also valid while running
  // (the files take effect at the next start or reload).
  absl::Status Configure(bool standby);

  // Starts postgres as a child (dropping to os_user when root; stdout/stderr appended to
  // log_path), or adopts a postmaster already running on pgdata (postmaster.pid names a
  // live process that is this bindir's postgres on this pgdata). Returns once
  // postmaster.pid's status line says "ready" or "standby"; an error with the server's
  // last log lines when it exits first, DeadlineExceeded when `timeout` passes (the
  // server is then left running and supervised). From then on the monitor restarts it
  // after a crash, with backoff, until Stop(). OK at once when already supervising.
  absl::Status Start(absl::Duration timeout);

  // Fast shutdown (SIGINT), then immediate (SIGQUIT) after `fast_timeout`, then SIGKILL
  // after 30 s more; waits for the exit. Also stops a server found running on pgdata
  // that was never started or adopted here. OK when none runs.
  absl::Status Stop(absl::Duration fast_timeout);

  // pg_ctl promote -w (as os_user); OK once postmaster.pid says "ready" with no
  // standby.signal left. OK at once when already primary; FailedPrecondition when stopped.
  // A server that crashed (or crashes under the request) is promoted once the monitor has
  // restarted it, within `timeout`; DeadlineExceeded when it is not back in time.
  absl::Status Promote(absl::Duration timeout);
  // A standby that is up now: RECOVERING, and its process has not exited.
  bool RunningStandby() const;
  // Waits until the server is a running standby or a primary, while the monitor restarts
  // one that crashed: OK then; DeadlineExceeded at `deadline` naming the state it is in;
  // FailedPrecondition while it is being stopped.
  absl::Status AwaitRunningStandby(absl::Time deadline);

  int pid() const;  // 0 when no server is supervised
  PostgresState state() const;
  uint64_t restarts() const { return restarts_.load(); }  // crashes recovered from
  uint64_t crashes() const { return crashes_.load(); }    // unplanned exits seen

  // libpq-style conninfo for walrep's local connection:
  // host=<socket_dir> port=<port> user=<local_user> dbname=postgres sslmode=disable
  // (values with blanks, quotes or backslashes single-quoted as libpq expects).
  std::string LocalConnInfo() const;

  // The server log's tailer, to read it on another thread's wake (LogTailer::ReadNow).
  int log_watch_fd() const { return tailer_.watch_fd(); }
  void ReadLogNow() { tailer_.ReadNow(); }

  // Restart attempts back off as agent/backoff.h does (250 ms doubling to 30 s, jittered);
  // a server that had stayed up for kStableUptime before it crashed starts that over.
  static constexpr absl::Duration kStableUptime = absl::Seconds(60);

 private:
  // Launches a server or adopts the running one; sets pid_/pidfd_ under mu_.
  absl::Status LaunchOrAdopt(bool allow_adopt);
  absl::Status Launch();
  // Polls postmaster.pid until ready/standby. Fails when the server exits, when
  // `deadline` passes, or (`interruptible`) when Stop() or the destructor asks.
  absl::Status AwaitReady(absl::Time deadline, bool interruptible);
  // Promote's one request to a running standby.
  absl::Status PromoteRunning(absl::Time deadline);
  // Refreshes state_ from postmaster.pid's status line (and standby.signal).
  void RefreshState();
  void Monitor();
  // Reaps the exited server (when it is our child) and closes its pidfd; returns a
  // description of how it ended.
  std::string ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string LogTail() const;  // the log's last lines since the last launch
  bool Interrupted() const;

  const PostgresOptions options_;
  // Serializes Start, Stop and the destructor (they create and join monitor_); never held
  // by the monitor thread, which only takes mu_.
  absl::Mutex control_mu_;
  const absl::StatusOr<RunAs> run_as_;
  LogTailer tailer_;

  mutable absl::Mutex mu_;
  PostgresState state_ ABSL_GUARDED_BY(mu_) = PostgresState::kStopped;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = 0;
  int pidfd_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;    // Stop() in progress: an exit is no crash
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;    // destructor: leave the server running
  bool exited_ ABSL_GUARDED_BY(mu_) = false;      // the server supervised has gone
  uint64_t log_offset_ ABSL_GUARDED_BY(mu_) = 0;  // log size at the last launch
  std::thread monitor_;
  std::atomic<uint64_t> restarts_{0};
  std::atomic<uint64_t> crashes_{0};
};

}  // namespace walrep

#endif  // WALREP_ENGINE_POSTGRES_SUPERVISOR_H_
