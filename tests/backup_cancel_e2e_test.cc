// FetchBaseBackup against a real PostgreSQL 15 primary: stopping it in the phase that
// used to be deaf — BASE_BACKUP waiting for the primary's checkpoint. (Tablespaces placed
// only where the caller said: backup_tablespace_e2e_test.cc.)
//
// Cancellation: the primary is made to take a long spread checkpoint (dirty data,
// checkpoint_timeout 1 h, checkpoint_completion_target 0.9, fast_checkpoint off), so
// BASE_BACKUP sends nothing for minutes. A gRPC cancel, SIGTERM of the daemon, and
// StopReplica during a bootstrap must each end the backup within a second, take the
// primary's walsender with it (a CancelRequest: the closed socket alone goes unnoticed
// while it waits for the checkpoint), and leave the target marked incomplete.
#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/backup_e2e_util.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::FetchBaseBackupRequest;
using walrep::v1::FetchBaseBackupResponse;

constexpr const char* kBin = kPgBin;

// A primary whose checkpoints are spread over most of an hour, with ~25 MB of dirty
// buffers so that the next one really takes that long (the checkpointer sleeps 100 ms
// after each buffer while it is ahead of schedule).
absl::StatusOr<std::unique_ptr<PgPrimary>> SlowCheckpointPrimary(bool tls = false) {
  PgPrimaryOptions o;
  o.tls = tls;
  o.tls_only = tls;
  o.extra_conf = {"checkpoint_timeout = '1h'", "checkpoint_completion_target = 0.9",
                  "max_wal_size = '4GB'", "log_checkpoints = on"};
  auto pg = PgPrimary::Start(o);
  if (!pg.ok()) return pg.status();
  for (const char* sql :
       {"CREATE TABLE dirty (id int, pad text)",
        "INSERT INTO dirty SELECT g, repeat('x', 400) FROM generate_series(1, 50000) g"}) {
    auto r = (*pg)->Psql(sql);
    if (!r.ok()) return r.status();
  }
  return pg;
}

// The walsender waiting for the primary's checkpoint on behalf of BASE_BACKUP; 0 if none.
int CheckpointWaiter(const PgPrimary& pg) {
  int pid = 0;
  auto out = pg.Psql(
      "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' AND wait_event IN "
      "('CheckpointStart', 'CheckpointDone') LIMIT 1");
  return out.ok() && absl::SimpleAtoi(Trim(out), &pid) ? pid : 0;
}

bool BackendGone(const PgPrimary& pg, int pid) {
  return Trim(pg.Psql(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE pid = ", pid))) ==
         "0";
}

struct Call {
  grpc::Status status;
  absl::Time ended;
};

// Runs FetchBaseBackup on its own thread until the call ends.
class BackgroundFetch {
 public:
  BackgroundFetch(AgentProcess& agent, FetchBaseBackupRequest req)
      : ctx_(agent.Context(absl::Minutes(10))), thread_([this, &agent, req] {
          auto reader = agent.stub()->FetchBaseBackup(ctx_.get(), req);
          FetchBaseBackupResponse msg;
          while (reader->Read(&msg)) {
          }
          call_.status = reader->Finish();
          call_.ended = absl::Now();
        }) {}
  ~BackgroundFetch() { Join(); }
  grpc::ClientContext* context() { return ctx_.get(); }
  const Call& Join() {
    if (thread_.joinable()) thread_.join();
    return call_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  Call call_;
  std::thread thread_;
};

FetchBaseBackupRequest SpreadCheckpointBackup(const PgPrimary& pg, const std::string& target,
                                              const std::string& conninfo_extra = "") {
  FetchBaseBackupRequest req;
  req.set_conninfo(pg.ReplConnInfo(conninfo_extra));
  req.set_target_dir(target);
  req.set_fast_checkpoint(false);  // BASE_BACKUP waits for the spread checkpoint
  return req;
}

// Polls `cond` (bounded) and returns how long it took from `since`, or nullopt.
std::optional<absl::Duration> TimeUntil(absl::Time since, const std::function<bool()>& cond,
                                        absl::Duration bound) {
  if (!WaitFor(cond, bound)) return std::nullopt;
  return absl::Now() - since;
}

// FetchBaseBackup cancelled by its gRPC caller while BASE_BACKUP waits for the spread
// checkpoint; `conninfo_extra` chooses TLS.
void CancelDuringSpreadCheckpoint(const PgPrimary& pg, const std::string& conninfo_extra) {
  ScratchDir scratch;
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("cancel_agent")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string target = scratch.path() + "/copy";

  BackgroundFetch fetch(**agent, SpreadCheckpointBackup(pg, target, conninfo_extra));
  int walsender = 0;
  ASSERT_TRUE(WaitFor([&] { return (walsender = CheckpointWaiter(pg)) != 0; }, absl::Seconds(30)))
      << (*agent)->ReadLog();
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  ASSERT_TRUE(progress->has_backup());
  EXPECT_EQ(progress->backup().phase(), walrep::v1::BACKUP_PHASE_STARTING);

  absl::Time cancelled_at = absl::Now();
  fetch.context()->TryCancel();
  // The client's own call ends at once whatever the server does; what counts is the job.
  auto job_ended = TimeUntil(
      cancelled_at,
      [&] {
        auto p = GetProgress(**agent);
        return p.ok() && !p->has_backup();
      },
      absl::Seconds(10));
  ASSERT_TRUE(job_ended.has_value()) << (*agent)->ReadLog();
  auto backend_gone = TimeUntil(
      cancelled_at, [&] { return BackendGone(pg, walsender); }, absl::Seconds(10));
  ASSERT_TRUE(backend_gone.has_value()) << (*agent)->ReadLog();
  std::cout << "gRPC cancel in the checkpoint" << (conninfo_extra.empty() ? "" : " (TLS)")
            << ": job ended after " << absl::FormatDuration(*job_ended) << ", walsender "
            << walsender << " gone after " << absl::FormatDuration(*backend_gone) << std::endl;
  EXPECT_LT(*job_ended, absl::Seconds(1));
  EXPECT_LT(*backend_gone, absl::Seconds(1));
  EXPECT_EQ(fetch.Join().status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return NoReplicationLeft(pg); }, absl::Seconds(5)));
  EXPECT_TRUE(MarkedIncomplete(target));
  EXPECT_NE((*agent)->ReadLog().find("sent a cancel request"), std::string::npos);

  // Nothing is left holding the agent: StopReplica and Promote answer at once.
  {
    auto ctx = (*agent)->Context(absl::Seconds(1));
    walrep::v1::StopReplicaResponse resp;
    grpc::Status st = (*agent)->stub()->StopReplica(ctx.get(), {}, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  {
    auto ctx = (*agent)->Context(absl::Seconds(1));
    walrep::v1::PromoteResponse resp;
    grpc::Status st = (*agent)->stub()->Promote(ctx.get(), {}, &resp);
    EXPECT_NE(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
    EXPECT_FALSE(absl::StrContains(st.error_message(), "base backup is running"))
        << st.error_message();
  }
}

TEST(BackupCancelE2eTest, GrpcCancelDuringSpreadCheckpoint) {
  auto pg = SlowCheckpointPrimary();
  ASSERT_TRUE(pg.ok()) << pg.status();
  CancelDuringSpreadCheckpoint(**pg, "");
}

// The CancelRequest travels over TLS too (the primary accepts only hostssl connections,
// and the session's TLS settings, verify-full included, apply to the cancel connection).
TEST(BackupCancelE2eTest, GrpcCancelDuringSpreadCheckpointOverTls) {
  auto pg = SlowCheckpointPrimary(/*tls=*/true);
  ASSERT_TRUE(pg.ok()) << pg.status();
  CancelDuringSpreadCheckpoint(
      **pg, absl::StrCat("sslmode=verify-full sslrootcert=", (*pg)->ca_cert_path()));
}

// Mid-stream (a throttled backup): the job and both walsenders end within a second too.
TEST(BackupCancelE2eTest, GrpcCancelWhileStreaming) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ScratchDir scratch;
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("stream_cancel_agent")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string target = scratch.path() + "/copy";
  FetchBaseBackupRequest req = SpreadCheckpointBackup(**pg, target);
  req.set_fast_checkpoint(true);
  req.set_max_rate_bytes_per_second(128 * 1024);
  BackgroundFetch fetch(**agent, req);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = GetProgress(**agent);
        return p.ok() && p->has_backup() && p->backup().bytes_done() > 0;
      },
      absl::Seconds(30)))
      << (*agent)->ReadLog();
  absl::Time cancelled_at = absl::Now();
  fetch.context()->TryCancel();
  auto job_ended = TimeUntil(
      cancelled_at,
      [&] {
        auto p = GetProgress(**agent);
        return p.ok() && !p->has_backup();
      },
      absl::Seconds(10));
  ASSERT_TRUE(job_ended.has_value()) << (*agent)->ReadLog();
  auto replication_gone = TimeUntil(
      cancelled_at, [&] { return NoReplicationLeft(**pg); }, absl::Seconds(10));
  ASSERT_TRUE(replication_gone.has_value());
  std::cout << "gRPC cancel while streaming: job ended after " << absl::FormatDuration(*job_ended)
            << ", walsenders and slot gone after " << absl::FormatDuration(*replication_gone)
            << std::endl;
  EXPECT_LT(*job_ended, absl::Seconds(1));
  EXPECT_LT(*replication_gone, absl::Seconds(1));
  EXPECT_EQ(fetch.Join().status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(MarkedIncomplete(target));
}

TEST(BackupCancelE2eTest, SigtermDuringSpreadCheckpoint) {
  auto pg = SlowCheckpointPrimary();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ScratchDir scratch;
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("sigterm_agent")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string target = scratch.path() + "/copy";

  BackgroundFetch fetch(**agent, SpreadCheckpointBackup(**pg, target));
  int walsender = 0;
  ASSERT_TRUE(WaitFor([&] { return (walsender = CheckpointWaiter(**pg)) != 0; }, absl::Seconds(30)))
      << (*agent)->ReadLog();

  absl::Time signalled_at = absl::Now();
  absl::StatusOr<int> exit_status = (*agent)->Signal(SIGTERM, absl::Seconds(10));
  absl::Duration exited = absl::Now() - signalled_at;
  ASSERT_TRUE(exit_status.ok()) << exit_status.status() << (*agent)->ReadLog();
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0) << *exit_status;
  auto backend_gone = TimeUntil(
      signalled_at, [&] { return BackendGone(**pg, walsender); }, absl::Seconds(10));
  ASSERT_TRUE(backend_gone.has_value());
  std::cout << "SIGTERM in the checkpoint: daemon exited after " << absl::FormatDuration(exited)
            << ", walsender " << walsender << " gone after " << absl::FormatDuration(*backend_gone)
            << std::endl;
  EXPECT_LT(exited, absl::Seconds(1)) << (*agent)->ReadLog();
  EXPECT_LT(*backend_gone, absl::Seconds(1));
  grpc::StatusCode code = fetch.Join().status.error_code();
  EXPECT_TRUE(code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNAVAILABLE) << code;
  EXPECT_TRUE(WaitFor([&] { return NoReplicationLeft(**pg); }, absl::Seconds(5)));
  EXPECT_TRUE(MarkedIncomplete(target));
}

// StartReplica's bootstrap asks for a fast checkpoint, which no amount of dirty data makes
// long; stopping the checkpointer process makes the primary's checkpoint never start, the
// same wait (CheckpointStart) from the walsender's side.
TEST(BackupCancelE2eTest, InTheBootstrapsCheckpointPromoteIsRefusedStartIsANoOpOrRepointsStopEndsIt) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string checkpointer =
      Trim((*pg)->Psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"));
  int checkpointer_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(checkpointer, &checkpointer_pid)) << checkpointer;
  ASSERT_EQ(kill(checkpointer_pid, SIGSTOP), 0);
  absl::Cleanup resume = [&] { kill(checkpointer_pid, SIGCONT); };
  std::string data_dir = FreshTestDir("bootstrap_stop");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();

  walrep::v1::StartReplicaRequest req;
  req.set_conninfo((*pg)->ReplConnInfo());
  req.set_bootstrap(true);
  {
    auto ctx = (*agent)->Context(absl::Seconds(2));
    walrep::v1::StartReplicaResponse resp;
    (void)(*agent)->stub()->StartReplica(ctx.get(), req, &resp);  // no identity yet
  }
  int walsender = 0;
  ASSERT_TRUE(WaitFor([&] { return (walsender = CheckpointWaiter(**pg)) != 0; }, absl::Seconds(30)))
      << (*agent)->ReadLog();
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->stream_state(), walrep::v1::STREAM_STATE_BOOTSTRAPPING);

  // What an orchestrator may call meanwhile. Promote is refused, naming the backup, and
  // disturbs nothing; the same StartReplica again (a reconcile loop) answers at once and
  // leaves the bootstrap as it is — the same walsender still waits for the checkpoint.
  {
    walrep::v1::PromoteResponse presp;
    grpc::Status pst = CallPromote(**agent, absl::Seconds(5), /*force=*/false, &presp);
    EXPECT_EQ(pst.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << pst.error_message();
    EXPECT_TRUE(absl::StrContains(pst.error_message(), "base backup is running"))
        << pst.error_message();
    auto sctx = (*agent)->Context(absl::Seconds(5));
    walrep::v1::StartReplicaResponse sresp;
    absl::Time asked = absl::Now();
    grpc::Status sst = (*agent)->stub()->StartReplica(sctx.get(), req, &sresp);
    EXPECT_TRUE(sst.ok()) << sst.error_message();
    EXPECT_LT(absl::Now() - asked, absl::Seconds(1));
    EXPECT_EQ(sresp.progress().stream_state(), walrep::v1::STREAM_STATE_BOOTSTRAPPING);
    auto again = GetProgress(**agent);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->stream_state(), walrep::v1::STREAM_STATE_BOOTSTRAPPING);
    EXPECT_EQ(again->role(), walrep::v1::ROLE_REPLICA);
    EXPECT_EQ(CheckpointWaiter(**pg), walsender);
  }
  // StartReplica with another configuration (the orchestrator changed the conninfo)
  // re-points: the bootstrap under way ends — its walsender goes — and one for the new
  // configuration begins, waiting on the checkpoint in turn.
  {
    walrep::v1::StartReplicaRequest changed = req;
    changed.set_conninfo((*pg)->ReplConnInfo("application_name=repointed"));
    auto sctx = (*agent)->Context(absl::Seconds(2));
    walrep::v1::StartReplicaResponse sresp;
    (void)(*agent)->stub()->StartReplica(sctx.get(), changed, &sresp);  // waits in the backup
    ASSERT_TRUE(WaitFor([&] { return BackendGone(**pg, walsender); }, absl::Seconds(10)));
    int repointed = 0;
    ASSERT_TRUE(WaitFor([&] { return (repointed = CheckpointWaiter(**pg)) != 0; }, absl::Seconds(30)))
        << (*agent)->ReadLog();
    EXPECT_NE(repointed, walsender);
    EXPECT_EQ(Trim((*pg)->Psql(absl::StrCat(
                  "SELECT application_name FROM pg_stat_activity WHERE pid = ", repointed))),
              "repointed");
    auto again = GetProgress(**agent);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->stream_state(), walrep::v1::STREAM_STATE_BOOTSTRAPPING);
    walsender = repointed;
  }

  absl::Time stop_at = absl::Now();
  auto ctx = (*agent)->Context(absl::Seconds(10));
  walrep::v1::StopReplicaResponse resp;
  grpc::Status st = (*agent)->stub()->StopReplica(ctx.get(), {}, &resp);
  absl::Duration stopped = absl::Now() - stop_at;
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto backend_gone = TimeUntil(
      stop_at, [&] { return BackendGone(**pg, walsender); }, absl::Seconds(10));
  ASSERT_TRUE(backend_gone.has_value());
  std::cout << "StopReplica in the bootstrap's checkpoint: answered after "
            << absl::FormatDuration(stopped) << ", walsender " << walsender << " gone after "
            << absl::FormatDuration(*backend_gone) << std::endl;
  EXPECT_LT(stopped, absl::Seconds(1));
  EXPECT_LT(*backend_gone, absl::Seconds(1));
  EXPECT_TRUE(MarkedIncomplete(data_dir + "/pgdata"));
  EXPECT_TRUE(WaitFor([&] { return NoReplicationLeft(**pg); }, absl::Seconds(5)));
  // Promote is not held up by a bootstrap that is gone.
  auto pctx = (*agent)->Context(absl::Seconds(1));
  walrep::v1::PromoteResponse presp;
  grpc::Status pst = (*agent)->stub()->Promote(pctx.get(), {}, &presp);
  EXPECT_NE(pst.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << pst.error_message();
  EXPECT_FALSE(absl::StrContains(pst.error_message(), "base backup is running"))
      << pst.error_message();
}

}  // namespace
}  // namespace walrep::testing
