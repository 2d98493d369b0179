// Engine postgres: a local PostgreSQL hot standby that replays what walrep streams into
// its pg_wal (in place, final segment names), supervised by PostgresSupervisor. This class
// adds what the agent needs from it: the apply position — pg_last_wal_replay_lsn(), the
// end of the last record the server replayed, read over walrep's own pgwire client on the
// private socket each time the startup process, woken after a flush, closes the segment it
// reached the end of (WalReadWatch), and at a tick otherwise — and the
// server's own promotion (pg_ctl promote), whose timeline and switch point are read back
// from the history file the server wrote.
//
// Thread-safety: Start/Stop/Promote from the agent's serialized operations; apply_lsn(),
// Wake(), WaitForApply(), Fill() from any thread.
#ifndef WALREP_AGENT_POSTGRES_ENGINE_H_
#define WALREP_AGENT_POSTGRES_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/postgres_supervisor.h"
#include "engine/wal_read_watch.h"
#include "replay/flush_times.h"
#include "walrep/v1/agent.pb.h"
#include "wire/connection.h"
#include "wire/replication_messages.h"
#include "wire/lsn.h"

namespace walrep {

class PostgresEngine {
 public:
  // `on_advance` runs on the thread that saw the apply position move (the poller, the log
  // tailer, or ReadLogNow's caller);
  // `local_user` names the role walrep's own connection uses (the role it replicates
  // with, which a copy of the primary has), asked at each connection.
  PostgresEngine(PostgresOptions options, std::function<void()> on_advance,
                 std::function<std::string()> local_user);
  ~PostgresEngine();  // stops polling; leaves the server running (Stop() stops it)

  // Whether <pgdata> holds a complete data directory to run (PG_VERSION present).
  bool HasDataDirectory() const;
  // FailedPrecondition naming both versions when the data directory's major version
  // (PG_VERSION, the primary's) differs from the server binary's.
  absl::Status CheckVersion() const;
  // Configures (standby or primary), starts or adopts the server, starts polling.
  absl::Status Start(bool standby);
  // Stops polling, then the server (fast shutdown, immediate after `fast_timeout`).
  absl::Status Stop(absl::Duration fast_timeout);

  Lsn apply_lsn() const { return Lsn(apply_lsn_.load(std::memory_order_acquire)); }
  // pg_last_xact_replay_timestamp() (InfinitePast when none yet).
  absl::Time last_replayed_xact_time() const;
  // How long the oldest WAL flushed as far as `durable` has waited for the server to
  // replay it; zero when it has replayed everything durable (see FlushTimes).
  absl::Duration lag(Lsn durable) const;
  // The durable position moved to `flushed` (unset: unknown): poll now rather than at the
  // next tick, waiting on the server for replay to reach it.
  void Wake(Lsn flushed = Lsn());
  // The server's log, read on the caller's thread (see LogTailer::ReadNow): the replica
  // stream watches log_watch_fd() beside its socket and calls ReadLogNow() when it
  // wakes, so an end-of-WAL line advances apply_lsn and is reported on that thread,
  // with no hand-off from the tailer's. -1: nothing to watch.
  int log_watch_fd() const;
  void ReadLogNow();
  // Waits until apply_lsn() >= lsn or `timeout`; returns whether it was reached.
  bool WaitForApply(Lsn lsn, absl::Duration timeout);
  // Waits until the server is a running standby (pg_ctl promote can act on it), or
  // `deadline`: after a crash the supervisor is restarting it. OK when running; otherwise
  // DeadlineExceeded naming the state it is in.
  absl::Status WaitForRunningStandby(absl::Time deadline) const;
  // The oldest xmin (and catalog xmin) the standby's queries and slots need, with epochs,
  // read at each poll; nullopt until read. xmin 0 when nothing holds one.
  std::optional<HotStandbyFeedback> feedback() const;
  // Counts apply advances, so a session can report each one (remote_apply waits on it).
  uint64_t advances() const { return advances_.load(std::memory_order_acquire); }

  struct Promotion {
    TimelineId timeline = 0;
    Lsn switch_lsn;
  };
  // pg_ctl promote -w; then reads the server's newest history file for the timeline it
  // opened and where. The server keeps running as a primary.
  absl::StatusOr<Promotion> Promote(absl::Duration timeout);

  // With the server stopped: pg_rewind --target-pgdata=<pgdata> --source-server=`source`
  // (no password in it: `password` goes in PGPASSWORD), as the server's OS user. Returns
  // pg_rewind's output, or its failure with the output.
  absl::StatusOr<std::string> Rewind(const std::string& source, const std::string& password,
                                     absl::Duration timeout);

  void Fill(v1::EngineProgress* out) const;
  const PostgresOptions& options() const { return options_; }

 private:
  void Poll();
  // Reads the replay position; with `target` above apply_lsn(), first waits on the server
  // (1 ms steps, at most kReplayWait) for replay to reach it.
  absl::Status PollOnce(Lsn target = Lsn());
  // Reads the replay position each time the startup process closes a segment (or
  // kCloseWait passes) until it reaches `target`; the poller's.
  absl::Status AwaitReplay(Lsn target);
  absl::Status ReadFeedback();
  void WakeStartupProcess();
  // A line of the server's log (on the tailer's thread, or ReadLogNow's caller): the
  // startup process's end-of-WAL line advances the apply position (engine/startup_log.h).
  void OnServerLogLine(absl::string_view line);
  // Moves the apply position forward to `replayed` (never back) and tells the session.
  // Returns whether it moved.
  bool AdvanceApply(Lsn replayed);

  const PostgresOptions options_;
  std::unique_ptr<PostgresSupervisor> supervisor_;
  std::function<void()> on_advance_;
  std::function<std::string()> local_user_;
  std::atomic<uint64_t> apply_lsn_{0};
  std::atomic<int64_t> last_xact_us_{0};
  std::atomic<uint64_t> advances_{0};
  std::atomic<uint64_t> advances_from_log_{0};
  std::atomic<uint64_t> advances_from_query_{0};
  std::atomic<uint64_t> position_queries_{0};
  // The startup process's end-of-WAL lines have advanced the position since its pid was
  // last found: the poller then leaves each flush to the log (no query per flush).
  std::atomic<bool> log_follows_replay_{false};
  std::atomic<bool> read_only_{true};
  std::optional<HotStandbyFeedback> feedback_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex mu_;
  absl::CondVar cv_;       // apply advances: WaitForApply
  absl::CondVar poll_cv_;  // the poller's wake-ups (flushes, stop)
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // The poller sleeps kTick with no flush to watch, while the log reports replay: the
  // next flush must wake it (otherwise flushes do not, see Poll).
  bool poller_idle_ ABSL_GUARDED_BY(mu_) = false;
  Lsn wake_target_ ABSL_GUARDED_BY(mu_);  // the newest flushed position woken for
  FlushTimes flush_times_ ABSL_GUARDED_BY(mu_);  // when each flush was woken for: lag()
  std::thread poller_;
  std::unique_ptr<PgConnection> conn_;  // the poller thread's
  bool position_prepared_ = false;       // conn_ has the replay-position statement
  absl::Time feedback_read_ = absl::InfinitePast();  // the poller thread's
  absl::Time last_look_ = absl::InfinitePast();     // the last position query; poller's
  // The server's startup process (replays WAL): found and reset by the poller, signalled
  // by Wake() from any thread.
  std::atomic<int> startup_pid_{0};
  std::atomic<int> server_major_{0};  // the server binary's; set by Start
  // Closes of pg_wal segments by readers; null when inotify is unavailable (then the
  // replay wait is a server-side loop). Made once, by the first Start.
  std::unique_ptr<WalReadWatch> watch_;
};

}  // namespace walrep

#endif  // WALREP_AGENT_POSTGRES_ENGINE_H_
