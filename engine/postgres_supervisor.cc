#include "engine/postgres_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/backoff.h"
#include "agent/logging.h"
#include "engine/durable_file.h"
#include "engine/pidfd.h"
#include "engine/postgres_conf.h"
#include "engine/postmaster_pid.h"
#include "replay/errno_status.h"
#include "replay/file_ops.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr absl::Duration kReadyPoll = absl::Milliseconds(20);
// How often the monitor re-reads postmaster.pid while the server runs: a promotion by
// SQL (pg_promote()) changes the state without walrep's doing.
constexpr absl::Duration kStatePoll = absl::Milliseconds(250);
constexpr absl::Duration kImmediateTimeout = absl::Seconds(30);
constexpr size_t kTailLines = 20;
constexpr size_t kTailBytes = 8 << 10;

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("engine"); }

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return "ended";
}

}  // namespace

const char* PostgresStateName(PostgresState s) {
  switch (s) {
    case PostgresState::kStopped:
      return "STOPPED";
    case PostgresState::kStarting:
      return "STARTING";
    case PostgresState::kRecovering:
      return "RECOVERING";
    case PostgresState::kPromoting:
      return "PROMOTING";
    case PostgresState::kPrimary:
      return "PRIMARY";
    case PostgresState::kCrashed:
      return "CRASHED";
  }
  return "UNKNOWN";
}

PostgresSupervisor::PostgresSupervisor(PostgresOptions options,
                                       LogTailer::LineObserver on_log_line)
    : options_(std::move(options)),
      run_as_(ResolveRunAs(options_.os_user)),
      // The standby has neither on purpose: walrep writes pg_wal itself.
      tailer_(options_.log_path, ModuleLogger("postgres"),
              {"specified neither primary_conninfo nor restore_command"},
              std::move(on_log_line)) {}

PostgresSupervisor::~PostgresSupervisor() {
  absl::MutexLock control(&control_mu_);
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  if (monitor_.joinable()) monitor_.join();
  tailer_.Stop();
  absl::MutexLock lock(&mu_);
  if (pidfd_ >= 0) close(pidfd_);
}

absl::Status PostgresSupervisor::Configure(bool standby) {
  RETURN_IF_ERROR(ConfigurePgdata(options_, standby));
  absl::StatusOr<std::string> auto_conf =
      ReadWholeFile(JoinPath(options_.pgdata, "postgresql.auto.conf"));
  if (auto_conf.ok()) {
    std::vector<std::string> forced, overriding;
    for (std::string& key : KeysOverriddenByAutoConf(*auto_conf)) {
      // primary_conninfo and restore_command are forced on the command line (Launch).
      (key == "primary_conninfo" || key == "restore_command" ? forced : overriding)
          .push_back(std::move(key));
    }
    if (!forced.empty()) {
      Log()->info("{}/postgresql.auto.conf sets {}; walrep's command line overrides it",
                  options_.pgdata, absl::StrJoin(forced, ", "));
    }
    if (!overriding.empty()) {
      Log()->warn("{}/postgresql.auto.conf sets {}, which override walrep.conf", options_.pgdata,
                  absl::StrJoin(overriding, ", "));
    }
  }
  return absl::OkStatus();
}

int PostgresSupervisor::pid() const {
  absl::MutexLock lock(&mu_);
  return pid_;
}

PostgresState PostgresSupervisor::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

namespace {

// A conninfo value, single-quoted (with \\ and \' escaped) only when libpq needs it.
std::string ConnInfoValue(absl::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '\'' || c == '\\' || c == '\t' || c == '\n') plain = false;
  }
  if (plain) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::string PostgresSupervisor::LocalConnInfo() const {
  return absl::StrCat("host=", ConnInfoValue(options_.socket_dir), " port=", options_.port,
                      " user=", ConnInfoValue(options_.local_user),
                      " dbname=postgres sslmode=disable");
}

bool PostgresSupervisor::Interrupted() const {
  absl::MutexLock lock(&mu_);
  return stopping_ || shutdown_;
}

std::string PostgresSupervisor::LogTail() const {
  uint64_t from;
  {
    absl::MutexLock lock(&mu_);
    from = log_offset_;
  }
  int fd = open(options_.log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "(no server log)";
  struct stat st;
  std::string text;
  // A file smaller than it was at the start has had its start removed (LogTailer keeps it
  // to its newest bytes): its last lines are the ones to show.
  if (fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) < from) from = 0;
  if (fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) > from) {
    uint64_t start = st.st_size - from > kTailBytes ? st.st_size - kTailBytes : from;
    text.resize(st.st_size - start);
    ssize_t n = pread(fd, text.data(), text.size(), start);
    text.resize(n > 0 ? n : 0);
  }
  close(fd);
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.size() > kTailLines) lines.erase(lines.begin(), lines.end() - kTailLines);
  if (lines.empty()) return "(the server log is empty)";
  return absl::StrCat("last server log lines:\n", absl::StrJoin(lines, "\n"));
}

absl::Status PostgresSupervisor::Launch() {
  const RunAs& as = *run_as_;
  int log_fd =
      open(options_.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log_fd < 0) return ErrnoStatus("open", options_.log_path, errno);
  if (as.drop && fchown(log_fd, as.uid, as.gid) < 0) {
    int err = errno;
    close(log_fd);
    return ErrnoStatus("chown", options_.log_path, err);
  }
  struct stat st;
  uint64_t offset = fstat(log_fd, &st) == 0 ? st.st_size : 0;
  // The two recovery settings also on the command line, which outranks every file:
  // postgresql.auto.conf is read after postgresql.conf (and so after walrep.conf), and a
  // primary that was once a standby made with `pg_basebackup -R` has a primary_conninfo
  // there. A walreceiver of its own would write pg_wal beside walrep. The log line prefix
  // too: walrep reads replay positions from the log by it.
  SpawnOptions spawn{{JoinPath(options_.bindir, "postgres"), "-D", options_.pgdata, "-c",
                      "primary_conninfo=", "-c", "restore_command=", "-c",
                      absl::StrCat("log_line_prefix=", kLogLinePrefix)},
                     as,
                     log_fd};
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  close(log_fd);
  if (!pid.ok()) return pid.status();
  absl::StatusOr<int> fd = PidfdOpen(*pid);
  if (!fd.ok()) {
    kill(*pid, SIGQUIT);
    waitpid(*pid, nullptr, 0);
    return fd.status();
  }
  mu_.AssertHeld();
  pid_ = *pid;
  pidfd_ = *fd;
  log_offset_ = offset;
  Log()->info("started postgres (pid {}) on {}, port {}", *pid, options_.pgdata, options_.port);
  return absl::OkStatus();
}

absl::Status PostgresSupervisor::LaunchOrAdopt(bool allow_adopt) {
  absl::MutexLock lock(&mu_);
  // Decided under the lock: a Stop() that began earlier must find either no server or the
  // one launched here in pidfd_, never one launched behind its back.
  if (stopping_ || shutdown_) return absl::CancelledError("postgres is being stopped");
  exited_ = false;
  state_ = PostgresState::kStarting;
  if (allow_adopt) {
    absl::StatusOr<PostmasterPid> pm = ReadPostmasterPid(options_.pgdata);
    if (pm.ok() && IsPostmasterOf(pm->pid, options_.bindir, options_.pgdata)) {
      absl::StatusOr<int> fd = PidfdOpen(pm->pid);
      // Checked again through the handle: the pid cannot be reused while we hold it.
      if (fd.ok() && IsPostmasterOf(pm->pid, options_.bindir, options_.pgdata)) {
        pid_ = pm->pid;
        pidfd_ = *fd;
        struct stat st;
        log_offset_ = stat(options_.log_path.c_str(), &st) == 0 ? st.st_size : 0;
        Log()->info("adopted the postgres already running on {} (pid {})", options_.pgdata,
                    pm->pid);
        return absl::OkStatus();
      }
      if (fd.ok()) close(*fd);
    }
  }
  absl::Status s = Launch();
  if (!s.ok()) {
    exited_ = true;
    state_ = PostgresState::kStopped;
  }
  return s;
}

std::string PostgresSupervisor::ReapLocked() {
  std::string how = "exited";
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) how = DescribeWaitStatus(status);  // ECHILD: an adopted server
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
  pid_ = 0;
  exited_ = true;
  return how;
}

absl::Status PostgresSupervisor::AwaitReady(absl::Time deadline, bool interruptible) {
  int fd;
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    fd = pidfd_;
    pid = pid_;
  }
  for (;;) {
    if (interruptible && Interrupted()) return absl::CancelledError("postgres is being stopped");
    if (PidfdWaitExit(fd, kReadyPoll)) {
      return absl::InternalError(
          absl::StrCat("postgres (pid ", pid, ") exited before it was ready; ", LogTail()));
    }
    absl::StatusOr<PostmasterPid> pm = ReadPostmasterPid(options_.pgdata);
    if (pm.ok() && pm->pid == pid && (pm->status == "ready" || pm->status == "standby")) {
      RefreshState();
      return absl::OkStatus();
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "postgres (pid ", pid, ") not ready in time (postmaster.pid status \"",
          pm.ok() ? pm->status : std::string(pm.status().message()), "\"); ", LogTail()));
    }
  }
}

void PostgresSupervisor::RefreshState() {
  absl::StatusOr<PostmasterPid> pm = ReadPostmasterPid(options_.pgdata);
  const bool signal = HasStandbySignal(options_.pgdata);
  absl::MutexLock lock(&mu_);
  if (!pm.ok() || pm->pid != pid_ || pid_ == 0) return;
  if (state_ != PostgresState::kStarting && state_ != PostgresState::kRecovering &&
      state_ != PostgresState::kPrimary) {
    return;  // stopped, crashed or promoting: not the status line's to change
  }
  if (pm->status == "standby" || (pm->status == "ready" && signal)) {
    state_ = PostgresState::kRecovering;
  } else if (pm->status == "ready") {
    state_ = PostgresState::kPrimary;
  }
}

absl::Status PostgresSupervisor::Start(absl::Duration timeout) {
  if (!run_as_.ok()) return run_as_.status();
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock control(&control_mu_);
  if (monitor_.joinable()) return absl::OkStatus();  // already supervising
  // Started before the server, so that its first lines are forwarded too.
  tailer_.Start();
  RETURN_IF_ERROR(LaunchOrAdopt(/*allow_adopt=*/true));
  absl::Status s = AwaitReady(deadline, /*interruptible=*/false);
  if (!s.ok() && !absl::IsDeadlineExceeded(s)) {
    absl::MutexLock lock(&mu_);
    ReapLocked();
    state_ = PostgresState::kStopped;
    return s;
  }
  // Also after a timeout: the server may still become ready (a long recovery), and it
  // must not run unsupervised.
  monitor_ = std::thread([this] { Monitor(); });
  return s;
}

void PostgresSupervisor::Monitor() {
  Backoff backoff(
      [gen = std::make_shared<absl::BitGen>()] { return absl::Uniform(*gen, 0.0, 1.0); });
  absl::Time up_since = absl::Now();
  for (;;) {
    int fd;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return;
      if (pidfd_ < 0 && stopping_) {  // a relaunch was refused because Stop() began
        state_ = PostgresState::kStopped;
        exited_ = true;
        return;
      }
      fd = pidfd_;
    }
    if (!PidfdWaitExit(fd, kStatePoll)) {
      RefreshState();
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      const pid_t pid = pid_;
      const std::string how = ReapLocked();
      if (stopping_) {
        state_ = PostgresState::kStopped;
        Log()->info("postgres (pid {}) stopped: {}", pid, how);
        return;
      }
      state_ = PostgresState::kCrashed;
      ++crashes_;
      Log()->error("postgres (pid {}) {} unexpectedly; restarting it", pid, how);
    }
    if (absl::Now() - up_since >= kStableUptime) backoff.Reset();
    // Restart until a server is ready again (or Stop/destruction interrupts).
    for (;;) {
      const absl::Duration delay = backoff.Next();
      {
        absl::MutexLock lock(&mu_);
        auto asked = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || shutdown_; };
        mu_.AwaitWithTimeout(absl::Condition(&asked), delay);
        if (stopping_) state_ = PostgresState::kStopped;
        if (stopping_ || shutdown_) return;
      }
      absl::Status s = LaunchOrAdopt(/*allow_adopt=*/false);
      if (s.ok()) s = AwaitReady(absl::InfiniteFuture(), /*interruptible=*/true);
      if (s.ok()) {
        ++restarts_;
        up_since = absl::Now();
        Log()->info("postgres restarted (pid {}), restart #{}", pid(), restarts_.load());
        break;
      }
      if (absl::IsCancelled(s)) break;  // the outer loop sees the exit Stop() causes
      Log()->error("restarting postgres failed: {}", s.message());
      absl::MutexLock lock(&mu_);
      if (pidfd_ >= 0) ReapLocked();  // AwaitReady failed because it exited
      state_ = PostgresState::kCrashed;
    }
  }
}

absl::Status PostgresSupervisor::Stop(absl::Duration fast_timeout) {
  absl::MutexLock control(&control_mu_);
  if (!monitor_.joinable()) {
    // Nothing supervised here: stop a server found running on pgdata anyway (the agent's
    // SIGTERM path must not leave one behind).
    absl::StatusOr<PostmasterPid> pm = ReadPostmasterPid(options_.pgdata);
    if (!pm.ok() || !IsPostmasterOf(pm->pid, options_.bindir, options_.pgdata)) {
      return absl::OkStatus();
    }
    absl::StatusOr<int> fd = PidfdOpen(pm->pid);
    if (!fd.ok()) return absl::IsNotFound(fd.status()) ? absl::OkStatus() : fd.status();
    absl::Status s = PidfdSignal(*fd, SIGINT);
    if (s.ok() && !PidfdWaitExit(*fd, fast_timeout)) {
      s = PidfdSignal(*fd, SIGQUIT);
      if (s.ok() && !PidfdWaitExit(*fd, kImmediateTimeout)) s = PidfdSignal(*fd, SIGKILL);
      if (s.ok()) PidfdWaitExit(*fd, absl::InfiniteDuration());
    }
    waitpid(pm->pid, nullptr, WNOHANG);
    close(*fd);
    return s;
  }
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    auto signal = [&](int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (pidfd_ >= 0 && !exited_) {
        absl::Status s = PidfdSignal(pidfd_, sig);
        if (!s.ok() && result.ok()) result = s;
      }
    };
    Log()->info("stopping postgres (pid {})", pid_);
    signal(SIGINT);  // fast: roll back sessions, checkpoint, exit
    if (!mu_.AwaitWithTimeout(absl::Condition(&exited_), fast_timeout)) {
      Log()->warn("postgres did not stop within {}; immediate shutdown",
                  absl::FormatDuration(fast_timeout));
      signal(SIGQUIT);
      if (!mu_.AwaitWithTimeout(absl::Condition(&exited_), kImmediateTimeout)) {
        signal(SIGKILL);
        mu_.Await(absl::Condition(&exited_));
      }
    }
  }
  monitor_.join();
  tailer_.Stop();
  absl::MutexLock lock(&mu_);
  stopping_ = false;
  state_ = PostgresState::kStopped;
  return result;
}

}  // namespace walrep
