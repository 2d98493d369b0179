// PostgresSupervisor's promotion (see postgres_supervisor.h): waiting for a running
// standby while the monitor restarts one that crashed, and pg_ctl promote, asked again
// when the server dies under it. The supervisor's class; split from postgres_supervisor.cc
// to keep each file to one concern.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "engine/pidfd.h"
#include "engine/postgres_conf.h"
#include "engine/postgres_supervisor.h"
#include "engine/postmaster_pid.h"
#include "engine/subprocess.h"
#include "replay/file_ops.h"

namespace walrep {
namespace {

// How often a promotion looks at the server's state while it waits.
constexpr absl::Duration kReadyPoll = absl::Milliseconds(20);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("engine"); }

}  // namespace

bool PostgresSupervisor::RunningStandby() const {
  absl::MutexLock lock(&mu_);
  // The state follows the monitor thread, which sees an exit a moment after it happens:
  // the pidfd says at once whether the process is still there.
  return state_ == PostgresState::kRecovering && pid_ != 0 && !exited_ &&
         (pidfd_ < 0 || !PidfdWaitExit(pidfd_, absl::ZeroDuration()));
}

absl::Status PostgresSupervisor::AwaitRunningStandby(absl::Time deadline) {
  const absl::Time since = absl::Now();
  for (;;) {
    RefreshState();
    PostgresState state;
    {
      absl::MutexLock lock(&mu_);
      state = state_;
      if (stopping_ || shutdown_) {
        return absl::FailedPreconditionError("postgres is being stopped");
      }
    }
    if (state == PostgresState::kPrimary || RunningStandby()) return absl::OkStatus();
    // Crashed or starting: the monitor thread is restarting it.
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "postgres is ", PostgresStateName(state), ", not a running standby, after ",
          absl::FormatDuration(now - since),
          " (after a crash it is restarted with backoff; its restarts and log are in "
          "GetProgress and the agent's log)"));
    }
    absl::SleepFor(std::min(kReadyPoll, deadline - now));
  }
}

absl::Status PostgresSupervisor::Promote(absl::Duration timeout) {
  if (!run_as_.ok()) return run_as_.status();
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    RefreshState();
    {
      absl::MutexLock lock(&mu_);
      if (state_ == PostgresState::kPrimary) return absl::OkStatus();
      if (state_ == PostgresState::kStopped) {
        return absl::FailedPreconditionError("cannot promote: postgres is STOPPED");
      }
    }
    absl::Status up = AwaitRunningStandby(deadline);
    if (!up.ok()) return absl::Status(up.code(), absl::StrCat("cannot promote: ", up.message()));
    if (state() == PostgresState::kPrimary) return absl::OkStatus();
    absl::Status s = PromoteRunning(deadline);
    // A server that died under the request (it crashed before it left recovery) is
    // restarted by the monitor as a standby again — the postmaster removes a stale
    // promote file at start — and asked again; any other failure is the answer.
    if (s.ok() || RunningStandby() || absl::Now() >= deadline) return s;
    Log()->warn("postgres exited while being promoted ({}); promoting it once restarted",
                s.message());
  }
}

absl::Status PostgresSupervisor::PromoteRunning(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (state_ != PostgresState::kRecovering) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot promote: postgres is ", PostgresStateName(state_), ", not a running standby"));
    }
    state_ = PostgresState::kPromoting;
  }
  auto back_to_standby = [this](absl::Status s) {
    {
      absl::MutexLock lock(&mu_);
      if (state_ == PostgresState::kPromoting) state_ = PostgresState::kRecovering;
    }
    RefreshState();
    return s;
  };
  const absl::Duration left = std::max(deadline - absl::Now(), absl::Seconds(1));
  const int64_t secs = std::max<int64_t>(1, absl::ToInt64Seconds(left));
  absl::StatusOr<std::string> out =
      RunProgram({JoinPath(options_.bindir, "pg_ctl"), "promote", "-w", "-t", absl::StrCat(secs),
                  "-D", options_.pgdata},
                 *run_as_, left + absl::Seconds(5));
  if (!out.ok()) return back_to_standby(out.status());
  // pg_ctl returns once pg_control says "in production"; the postmaster rewrites its
  // status line a moment later.
  for (;;) {
    absl::StatusOr<PostmasterPid> pm = ReadPostmasterPid(options_.pgdata);
    if (pm.ok() && pm->status == "ready" && !HasStandbySignal(options_.pgdata)) break;
    if (absl::Now() >= deadline) {
      return back_to_standby(absl::DeadlineExceededError(
          absl::StrCat("postgres did not leave recovery within ", absl::FormatDuration(left))));
    }
    absl::SleepFor(kReadyPoll);
  }
  absl::MutexLock lock(&mu_);
  state_ = PostgresState::kPrimary;
  Log()->info("postgres promoted (pid {})", pid_);
  return absl::OkStatus();
}

}  // namespace walrep
