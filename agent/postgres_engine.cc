#include "agent/postgres_engine.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "engine/postgres_version.h"
#include "engine/subprocess.h"
#include "engine/wal_read_watch.h"
#include "replay/atomic_file.h"
#include "replay/errno_status.h"
#include "replay/timeline_history.h"
#include "wire/connection.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// How long Start waits for the server to accept connections before going on.
constexpr absl::Duration kReadyWait = absl::Seconds(20);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("engine"); }

v1::EngineState ToProto(PostgresState s) {
  switch (s) {
    case PostgresState::kStopped: return v1::ENGINE_STATE_STOPPED;
    case PostgresState::kStarting: return v1::ENGINE_STATE_STARTING;
    case PostgresState::kRecovering: return v1::ENGINE_STATE_RECOVERING;
    case PostgresState::kPromoting: return v1::ENGINE_STATE_PROMOTING;
    case PostgresState::kPrimary: return v1::ENGINE_STATE_PRIMARY;
    case PostgresState::kCrashed: return v1::ENGINE_STATE_CRASHED;
  }
  return v1::ENGINE_STATE_UNSPECIFIED;
}

// The newest "<tli>.history" in `wal_dir`: the timeline number.
TimelineId NewestHistory(const std::string& wal_dir) {
  TimelineId newest = 0;
  DIR* d = opendir(wal_dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    if (name.size() != 16 || !absl::ConsumeSuffix(&name, ".history")) continue;
    uint32_t tli = 0;
    if (absl::SimpleHexAtoi(name, &tli) && tli > newest) newest = tli;
  }
  closedir(d);
  return newest;
}

}  // namespace

PostgresEngine::PostgresEngine(PostgresOptions options, std::function<void()> on_advance,
                               std::function<std::string()> local_user)
    : options_(std::move(options)),
      supervisor_(std::make_unique<PostgresSupervisor>(
          options_, [this](absl::string_view line) { OnServerLogLine(line); })),
      on_advance_(std::move(on_advance)),
      local_user_(std::move(local_user)) {}

PostgresEngine::~PostgresEngine() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
    poll_cv_.SignalAll();
    if (watch_) watch_->Interrupt();
  }
  if (poller_.joinable()) poller_.join();
  // Its log tailer calls OnServerLogLine: it goes before the members that call uses.
  supervisor_.reset();
}

bool PostgresEngine::HasDataDirectory() const {
  return ReadSmallFile(options_.pgdata + "/PG_VERSION", 64).ok();
}

absl::Status PostgresEngine::CheckVersion() const {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(options_.pgdata + "/PG_VERSION", 64));
  int data_major = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &data_major)) {
    return absl::DataLossError(absl::StrCat(options_.pgdata, "/PG_VERSION is not a version"));
  }
  ASSIGN_OR_RETURN(int binary_major, PostgresMajorVersion(options_.bindir));
  if (binary_major != data_major) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the primary runs PostgreSQL ", data_major, " but --pg_bindir ", options_.bindir,
        " is PostgreSQL ", binary_major, ": a standby needs the same major version"));
  }
  return absl::OkStatus();
}

absl::Status PostgresEngine::Start(bool standby) {
  RETURN_IF_ERROR(CheckVersion());
  RETURN_IF_ERROR(supervisor_->Configure(standby));
  // A standby accepts connections only once consistent, and the WAL to get there may be
  // what the stream is about to bring (after a rewind, or a crash before consistency):
  // waiting for it here would wait for ever. The server stays started and supervised;
  // the apply poller connects when it is ready.
  absl::Status started = supervisor_->Start(kReadyWait);
  if (absl::IsDeadlineExceeded(started)) {
    Log()->info("PostgreSQL is not accepting connections yet (replaying to a consistent "
                "state); continuing");
  } else {
    RETURN_IF_ERROR(started);
  }
  read_only_.store(standby);
  ASSIGN_OR_RETURN(const int major, PostgresMajorVersion(options_.bindir));
  server_major_.store(major, std::memory_order_relaxed);
  if (!poller_.joinable()) {
    absl::MutexLock lock(&mu_);  // Wake() reads watch_ under it
    stop_ = false;
    if (watch_ == nullptr) {
      auto watch = WalReadWatch::Create(options_.pgdata + "/pg_wal");
      if (watch.ok()) {
        watch_ = std::move(*watch);
      } else {
        Log()->warn("replay is watched by polling only: {}", watch.status().message());
      }
    }
    poller_ = std::thread([this] { Poll(); });
  }
  Log()->info("PostgreSQL serves {}:{} as a {} (pid {})", options_.listen, options_.port,
              standby ? "hot standby" : "primary", supervisor_->pid());
  return absl::OkStatus();
}

absl::Status PostgresEngine::Stop(absl::Duration fast_timeout) {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
    poll_cv_.SignalAll();
    if (watch_) watch_->Interrupt();
  }
  if (poller_.joinable()) poller_.join();
  startup_pid_.store(0, std::memory_order_release);  // stopping: not to be signalled
  return supervisor_->Stop(fast_timeout);
}

absl::Time PostgresEngine::last_replayed_xact_time() const {
  const int64_t us = last_xact_us_.load(std::memory_order_acquire);
  return us == 0 ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

void PostgresEngine::Wake(Lsn flushed) {
  // From the flushing thread itself: the startup process starts reading at once, not
  // after the poller has been scheduled.
  WakeStartupProcess();
  absl::MutexLock lock(&mu_);
  wake_ = true;
  if (flushed > wake_target_) wake_target_ = flushed;
  if (flushed.valid()) flush_times_.Flushed(flushed.value(), absl::Now());
  // Wakes a poller waiting between polls; one waiting for the startup process to close
  // a segment (AwaitReplay) is not interrupted — the close this flush causes ends its
  // wait, and it takes the new target after that look. While the server's log reports
  // replay, the poller is not woken at all (see Poll).
  if (!log_follows_replay_.load(std::memory_order_acquire) || poller_idle_) {
    poll_cv_.SignalAll();
  }
}

absl::Duration PostgresEngine::lag(Lsn durable) const {
  absl::MutexLock lock(&mu_);
  return flush_times_.Lag(durable.value(), apply_lsn_.load(std::memory_order_acquire),
                          absl::Now());
}

bool PostgresEngine::WaitForApply(Lsn lsn, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  Wake();
  absl::MutexLock lock(&mu_);
  while (apply_lsn() < lsn && !stop_) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return apply_lsn() >= lsn;
}

absl::Status PostgresEngine::WaitForRunningStandby(absl::Time deadline) const {
  absl::Status up = supervisor_->AwaitRunningStandby(deadline);
  if (up.ok()) return up;
  return absl::Status(up.code(), absl::StrCat("the standby's ", up.message()));
}

std::optional<HotStandbyFeedback> PostgresEngine::feedback() const {
  absl::MutexLock lock(&mu_);
  return feedback_;
}

absl::StatusOr<PostgresEngine::Promotion> PostgresEngine::Promote(absl::Duration timeout) {
  const std::string wal_dir = options_.pgdata + "/pg_wal";
  const TimelineId before = NewestHistory(wal_dir);
  RETURN_IF_ERROR(supervisor_->Promote(timeout));
  read_only_.store(false);
  // The server's own record of what it did: the history file of the timeline it opened.
  const TimelineId tli = NewestHistory(wal_dir);
  if (tli == 0 || tli <= before) {
    return absl::InternalError(absl::StrCat(
        "the server left recovery but wrote no new timeline history file in ", wal_dir));
  }
  ASSIGN_OR_RETURN(std::string content, ReadHistoryFile(wal_dir, tli));
  ASSIGN_OR_RETURN(std::vector<HistoryFileEntry> entries, ParseHistoryFileContent(content));
  if (entries.empty()) return absl::DataLossError(absl::StrCat("timeline ", tli, "'s history is empty"));
  Promotion p;
  p.timeline = tli;
  p.switch_lsn = entries.back().switchpoint;
  return p;
}

absl::StatusOr<std::string> PostgresEngine::Rewind(const std::string& source,
                                                   const std::string& password,
                                                   absl::Duration timeout) {
  ASSIGN_OR_RETURN(RunAs run_as, ResolveRunAs(options_.os_user));
  std::string conninfo = source;
  // The password reaches pg_rewind through a password file of its own user in walrep's
  // private socket directory, never its command line (which ps shows to everyone).
  const std::string passfile = options_.socket_dir + "/.rewind.pgpass";
  if (!password.empty()) {
    std::string escaped;
    for (char c : password) {
      if (c == ':' || c == '\\') escaped += '\\';
      escaped += c;
    }
    RETURN_IF_ERROR(WriteFileAtomically(passfile, absl::StrCat("*:*:*:*:", escaped, "\n")));
    if (run_as.drop && chown(passfile.c_str(), run_as.uid, run_as.gid) != 0) {
      absl::Status st = ErrnoStatus("chown", passfile, errno);
      (void)RemoveFileDurably(passfile);
      return st;
    }
    absl::StrAppend(&conninfo, " passfile='", passfile, "'");
  }
  auto out = RunProgram({options_.bindir + "/pg_rewind", "--target-pgdata=" + options_.pgdata,
                         "--source-server=" + conninfo, "--progress"},
                        run_as, timeout);
  if (!password.empty()) (void)RemoveFileDurably(passfile);
  return out;
}

void PostgresEngine::Fill(v1::EngineProgress* out) const {
  out->set_state(ToProto(supervisor_->state()));
  out->set_pid(supervisor_->pid());
  out->set_listen(options_.listen);
  out->set_port(options_.port);
  out->set_read_only(read_only_.load());
  out->set_restarts(supervisor_->restarts());
  out->set_replay_lsn(apply_lsn().value());
  out->set_replay_advances_from_log(advances_from_log_.load(std::memory_order_relaxed));
  out->set_replay_advances_from_query(advances_from_query_.load(std::memory_order_relaxed));
  out->set_replay_position_queries(position_queries_.load(std::memory_order_relaxed));
}

}  // namespace walrep
