// PostgresEngine's replay-position reading (see postgres_engine.h): the poller thread,
// waking the startup process after a flush, the prepared position query, and hot standby
// feedback. The engine's life cycle, Promote and Rewind are in postgres_engine.cc.
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/postgres_engine.h"
#include "engine/startup_log.h"
#include "engine/wal_read_watch.h"
#include "replay/atomic_file.h"
#include "wire/connection.h"
#include "wire/conninfo.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Without a flush to react to, the server's replay position is read this often (its
// startup process also replays what it finds on its own retry interval).
constexpr absl::Duration kTick = absl::Milliseconds(100);
// After a flush, how often the position is re-read until it stops moving.
constexpr absl::Duration kEagerPoll = absl::Milliseconds(5);
constexpr int kEagerPolls = 40;
// How long one poll may wait for replay to reach a flushed position.
constexpr absl::Duration kReplayWait = absl::Milliseconds(20);
// While waiting so, how long without the startup process closing a segment before the
// position is read anyway: a close can come early (read-ahead leaving a segment) or not
// at all (replay held back by a recovery conflict). Each such look that finds replay
// still short doubles the wait, up to kCloseWaitMax, until the next close: a startup
// process that is slow to be scheduled (a busy machine) is not asked every 2 ms — each
// look is a query that the server's backend must parse and run on the same cores.
constexpr absl::Duration kCloseWait = absl::Milliseconds(2);
constexpr absl::Duration kCloseWaitMax = absl::Milliseconds(16);
constexpr absl::Duration kReconnectDelay = absl::Milliseconds(200);
// While the log reports replay: how long a flushed position may wait for its line before
// the poller asks the server (and how often it looks while one waits).
constexpr absl::Duration kLogGrace = absl::Milliseconds(2);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("engine"); }

// The pid of the startup process among `postmaster`'s children (its process title
// begins "postgres: startup"), or 0.
int StartupProcessOf(int postmaster) {
  if (postmaster <= 0) return 0;
  auto children = ReadSmallFile(absl::StrCat("/proc/", postmaster, "/task/", postmaster, "/children"),
                                1 << 16);
  if (!children.ok()) return 0;
  for (absl::string_view word : absl::StrSplit(*children, ' ', absl::SkipWhitespace())) {
    int pid = 0;
    if (!absl::SimpleAtoi(word, &pid)) continue;
    auto cmdline = ReadSmallFile(absl::StrCat("/proc/", pid, "/cmdline"), 4096);
    if (cmdline.ok() && absl::StartsWith(*cmdline, "postgres: startup")) return pid;
  }
  return 0;
}


// The replay position (in recovery?, replayed LSN, last replayed commit time in µs), and
// the same once replay has reached $1 — or is no longer in recovery, or kReplayWait has
// passed. The wait is one SELECT: generate_series gives one row per millisecond, the
// WHERE clause (its OR evaluated left to right, stopping at the first true) sleeps 1 ms
// on each row that does not qualify, and LIMIT 1 ends the scan at the first that does,
// at the latest the last.
std::string PositionStatements() {
  constexpr absl::string_view kColumns =
      "SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_replay_lsn(), '0/0'), "
      "COALESCE((extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::int8, 0)";
  const int64_t slices = absl::ToInt64Milliseconds(kReplayWait);
  return absl::StrCat(
      "PREPARE walrep_replay_position AS ", kColumns, "; ",
      "PREPARE walrep_replay_wait(pg_lsn) AS ", kColumns, " FROM generate_series(1, ", slices,
      ") AS i WHERE NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= $1 OR i = ",
      slices, " OR pg_sleep(0.001) IS NULL LIMIT 1");
}
}  // namespace

void PostgresEngine::Poll() {
  int eager = 0;
  Lsn target;
  bool woken = false;
  for (;;) {
    if (log_follows_replay_.load(std::memory_order_acquire)) {
      // The startup process's log lines report each position as replay reaches it
      // (OnServerLogLine), so a flush does not wake this thread: it looks only when a
      // flushed position has waited kLogGrace without a line (replay ended on a page
      // boundary, or is held back), and for the periodic look.
      // Without a flush since the last look it sleeps kTick, and the next flush wakes it.
      absl::MutexLock lock(&mu_);
      const bool pending = wake_target_.value() > apply_lsn_.load(std::memory_order_acquire);
      poller_idle_ = !pending && !wake_;
      wake_ = false;
      const absl::Time until = absl::Now() + (poller_idle_ ? kTick : kLogGrace);
      while (!stop_ && log_follows_replay_.load(std::memory_order_acquire) &&
             !(poller_idle_ && wake_)) {
        if (poll_cv_.WaitWithDeadline(&mu_, until)) break;
      }
      poller_idle_ = false;
      if (stop_) return;
      const uint64_t applied = apply_lsn_.load(std::memory_order_acquire);
      const bool late = wake_target_.value() > applied &&
                        flush_times_.Lag(wake_target_.value(), applied, absl::Now()) >= kLogGrace;
      target = late ? wake_target_ : Lsn();
      woken = true;  // only a late position or the periodic look is asked for
    } else {
      absl::MutexLock lock(&mu_);
      const absl::Duration wait = eager > 0 ? kEagerPoll : kTick;
      const absl::Time until = absl::Now() + wait;
      while (!stop_ && !wake_) {
        if (poll_cv_.WaitWithDeadline(&mu_, until)) break;
      }
      if (stop_) return;
      woken = wake_;
      if (wake_) {
        eager = kEagerPolls;
        target = wake_target_;
      }
      wake_ = false;
    }
    const Lsn before = apply_lsn();
    // The periodic look (the last commit time, in recovery or not, the feedback) is due
    // every kTick even while flushes keep waking the poller.
    const bool due = absl::Now() - last_look_ >= kTick;
    absl::Status st;
    if (target > before && watch_ != nullptr &&
        !log_follows_replay_.load(std::memory_order_acquire)) {
      st = AwaitReplay(target);
    } else if (target > before || !woken || due) {
      st = PollOnce(target > before ? target : Lsn());
    }
    // (Woken for a position replay has reached already — the log told it first — there
    // is nothing to ask.)
    target = Lsn();
    if (!st.ok()) {
      Log()->debug("reading the replay position: {}", st.message());
      absl::MutexLock lock(&mu_);
      poll_cv_.WaitWithTimeout(&mu_, kReconnectDelay);
      continue;
    }
    if (apply_lsn() != before) {
      eager = kEagerPolls;  // replay is moving: keep watching closely
    } else if (eager > 0) {
      --eager;
    }
  }
}

absl::Status PostgresEngine::AwaitReplay(Lsn target) {
  // The position is read when the startup process closes a segment — it has replayed all
  // it could read (see WalReadWatch) — and otherwise after kCloseWait (doubling up to
  // kCloseWaitMax while no close comes), until it reaches the newest flushed position or
  // kReplayWait passes without a new flush. A flush while waiting has woken the startup
  // process again (Wake); its target is taken after the next look.
  // (While the startup process's log lines report its position, Poll does not come here.
  // A line that arrives during the wait ends it at the next look.)
  absl::Time deadline = absl::Now() + kReplayWait;
  absl::Duration close_wait = kCloseWait;
  for (;;) {
    if (apply_lsn() >= target) return absl::OkStatus();
    const WalReadWatch::Event event = watch_->Wait(std::min(deadline, absl::Now() + close_wait));
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return absl::OkStatus();
    }
    if (apply_lsn() < target) {
      RETURN_IF_ERROR(PollOnce());
      close_wait = event == WalReadWatch::Event::kSegmentClosed
                       ? kCloseWait
                       : std::min(close_wait * 2, kCloseWaitMax);
    }
    {
      absl::MutexLock lock(&mu_);
      if (wake_) {
        wake_ = false;
        if (wake_target_ > target) target = wake_target_;
        deadline = absl::Now() + kReplayWait;
      }
    }
    if (apply_lsn() >= target || absl::Now() >= deadline) return absl::OkStatus();
  }
}

void PostgresEngine::OnServerLogLine(absl::string_view line) {
  const std::optional<EndOfWalLine> end = ParseEndOfWalLine(line);
  if (!end) return;
  // Only the startup process's own lines: any session can have text logged at LOG.
  const int startup = startup_pid_.load(std::memory_order_acquire);
  if (startup <= 0 || end->pid != startup) return;
  if (AdvanceApply(end->at)) {
    advances_from_log_.fetch_add(1, std::memory_order_relaxed);
    log_follows_replay_.store(true, std::memory_order_release);
  }
}

int PostgresEngine::log_watch_fd() const { return supervisor_->log_watch_fd(); }

void PostgresEngine::ReadLogNow() { supervisor_->ReadLogNow(); }

bool PostgresEngine::AdvanceApply(Lsn replayed) {
  {
    absl::MutexLock lock(&mu_);
    if (replayed.value() <= apply_lsn_.load(std::memory_order_acquire)) return false;
    apply_lsn_.store(replayed.value(), std::memory_order_release);
    flush_times_.Applied(replayed.value());
    advances_.fetch_add(1, std::memory_order_acq_rel);
    cv_.SignalAll();
  }
  if (on_advance_) on_advance_();
  return true;
}

void PostgresEngine::WakeStartupProcess() {
  // The startup process replays pg_wal and, at its end, sleeps on the recovery wake-up
  // latch for wal_retrieve_retry_interval before looking again; only its walreceiver
  // (which walrep replaces) or a signal whose handler sets that latch ends the sleep.
  // From PostgreSQL 15 that is SIGUSR2: its handler wakes the process to look for a
  // promotion request, which exists only if the "promote" file does (pg_promote() and
  // pg_ctl promote write it first) — without one the process only reads the new WAL.
  // Older servers promote on SIGUSR2 alone, so they get SIGHUP, which also re-reads the
  // configuration files (unchanged), a cost paid on every flush.
  // The pid is known only while the poller's connection that found it works: after an
  // error the server may have restarted, and the pid may belong to another process.
  const int pid = startup_pid_.load(std::memory_order_acquire);
  if (pid <= 0) return;
  const int sig = server_major_.load(std::memory_order_relaxed) >= 15 ? SIGUSR2 : SIGHUP;
  if (kill(pid, sig) != 0) startup_pid_.store(0, std::memory_order_release);  // looked up again
}

absl::Status PostgresEngine::PollOnce(Lsn target) {
  // One connection, kept while it works and made again after an error (a server
  // restart), over the private socket.
  if (conn_ == nullptr || !conn_->is_open()) {
    ASSIGN_OR_RETURN(ConnInfo info,
                     ConnInfo::Parse(absl::StrCat("host='", options_.socket_dir, "' port=",
                                                  options_.port, " dbname=postgres "
                                                  "sslmode=disable user='", local_user_(), "'")));
    ConnectionOptions copts;
    copts.default_application_name = "walrep";
    copts.replication = false;  // an ordinary session: it runs SQL functions
    // A new connection may be to a restarted server: its startup process is another
    // (and the old pid may belong to anything now).
    startup_pid_.store(0, std::memory_order_release);
    ASSIGN_OR_RETURN(conn_, PgConnection::Connect(info, copts));
    position_prepared_ = false;
  }
  // pg_stat_activity hides auxiliary processes from a role without pg_read_all_stats
  // (and a standby cannot be granted anything): find it among the postmaster's children.
  if (startup_pid_.load(std::memory_order_acquire) <= 0) {
    log_follows_replay_.store(false, std::memory_order_release);  // until its lines show it
    startup_pid_.store(StartupProcessOf(supervisor_->pid()), std::memory_order_release);
  }
  // Both statements are prepared once per connection: each look is then an execution
  // that the backend neither parses nor plans again — it runs after every flush, on the
  // cores replay needs. (A DO block here cost a PL/pgSQL compilation per flush.)
  if (!position_prepared_) {
    auto prepared = conn_->Query(PositionStatements());
    if (!prepared.ok()) {
      conn_.reset();
      startup_pid_.store(0, std::memory_order_release);
      return prepared.status();
    }
    position_prepared_ = true;
  }
  // Right after a flush the startup process (just woken) is replaying it; rather than
  // polling from here every kEagerPoll — a synchronous_commit = remote_apply commit waits
  // on what this reports — the server itself watches its replay position in 1 ms sleeps
  // (pg_sleep's granularity) and answers as soon as it reaches the flushed position. The
  // statement is read-only and short (kReplayWait at most), so it holds a snapshot only
  // briefly.
  // Bound and executed over the extended protocol: a simple-query "EXECUTE" would be
  // parsed and run as a utility statement by the server every time.
  const std::optional<std::string> wait_for[] = {target.ToString()};
  auto rs = target.valid()
                ? conn_->ExecutePrepared("walrep_replay_wait", wait_for)
                : conn_->ExecutePrepared("walrep_replay_position", {});
  if (!rs.ok()) {
    conn_.reset();
    startup_pid_.store(0, std::memory_order_release);
    return rs.status();
  }
  if (rs->rows.size() != 1 || rs->rows[0].values.size() != 3) {
    return absl::DataLossError("unexpected answer to the replay position query");
  }
  last_look_ = absl::Now();
  position_queries_.fetch_add(1, std::memory_order_relaxed);
  const auto& v = rs->rows[0].values;
  const bool in_recovery = v[0].has_value() && *v[0] == "t";
  read_only_.store(in_recovery);
  if (!in_recovery) {
    startup_pid_.store(0, std::memory_order_release);  // a primary: nothing replays any more
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Lsn replayed, Lsn::Parse(v[1].value_or("0/0")));
  int64_t xact_us = 0;
  if (v[2].has_value()) (void)absl::SimpleAtoi(*v[2], &xact_us);
  if (xact_us != 0) last_xact_us_.store(xact_us, std::memory_order_release);
  // Feedback goes out with the periodic status updates: reading it once a second is
  // enough, and keeps the eager polls after each flush to one query.
  if (absl::Now() - feedback_read_ >= absl::Seconds(1)) {
    RETURN_IF_ERROR(ReadFeedback());
    feedback_read_ = absl::Now();
  }
  if (AdvanceApply(replayed)) advances_from_query_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

namespace {

// An xid of the standby with the epoch it belongs to: the epoch of the checkpoint's next
// xid, one less when the xid is numerically above it (it is from before a wraparound).
uint32_t EpochOf(uint32_t xid, uint32_t next_epoch, uint32_t next_xid) {
  return xid <= next_xid || next_epoch == 0 ? next_epoch : next_epoch - 1;
}

}  // namespace

absl::Status PostgresEngine::ReadFeedback() {
  // What the standby's own queries (not this session) and its slots still need; xid has
  // no ordering, age() gives the oldest. Like walreceiver's hot_standby_feedback.
  auto rs = conn_->Query(
      "SELECT (SELECT x::text FROM (SELECT backend_xmin AS x FROM pg_stat_activity "
      "WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid() UNION ALL "
      "SELECT xmin FROM pg_replication_slots WHERE xmin IS NOT NULL) s "
      "ORDER BY age(x) DESC LIMIT 1), "
      "(SELECT catalog_xmin::text FROM pg_replication_slots WHERE catalog_xmin IS NOT NULL "
      "ORDER BY age(catalog_xmin) DESC LIMIT 1), "
      "(pg_control_checkpoint()).next_xid");
  if (!rs.ok()) {
    conn_.reset();
    startup_pid_.store(0, std::memory_order_release);
    return rs.status();
  }
  if (rs->size() != 1 || (*rs)[0].rows.size() != 1 || (*rs)[0].rows[0].values.size() != 3) {
    return absl::DataLossError("unexpected answer to the hot standby feedback query");
  }
  const auto& v = (*rs)[0].rows[0].values;
  uint32_t next_epoch = 0, next_xid = 0;
  std::vector<std::string> parts = absl::StrSplit(v[2].value_or("0:0"), ':');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &next_epoch) ||
      !absl::SimpleAtoi(parts[1], &next_xid)) {
    return absl::DataLossError(absl::StrCat("pg_control_checkpoint().next_xid \"",
                                            v[2].value_or(""), "\""));
  }
  HotStandbyFeedback h;
  if (v[0].has_value() && absl::SimpleAtoi(*v[0], &h.xmin) && h.xmin != 0) {
    h.xmin_epoch = EpochOf(h.xmin, next_epoch, next_xid);
  }
  if (v[1].has_value() && absl::SimpleAtoi(*v[1], &h.catalog_xmin) && h.catalog_xmin != 0) {
    h.catalog_xmin_epoch = EpochOf(h.catalog_xmin, next_epoch, next_xid);
  }
  absl::MutexLock lock(&mu_);
  feedback_ = h;
  return absl::OkStatus();
}

}  // namespace walrep
