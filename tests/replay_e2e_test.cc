// Replay and promotion end to end: the daemon as a process, driven over gRPC, against a
// real PostgreSQL 15 primary. A segment damaged after it was fsynced stops replay and
// makes Promote refuse unless forced; remote_apply commits complete because walrep
// reports what it replayed; Promote in each state of the replica (and refused while a
// base backup runs).
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/replay_e2e_util.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

TEST(ReplayE2eTest, CorruptedFsyncedSegmentStopsReplayAndPromoteRefusesWithoutForce) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string data_dir = FreshTestDir("replay_corrupt");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartReplicaOf(**agent, **pg, "");
  ASSERT_TRUE(st.ok()) << st.error_message();
  // About 65 MB of heap inserts: several segments full of records.
  ASSERT_TRUE((*pg)
                  ->Psql("CREATE TABLE w AS SELECT g AS id, repeat('x', 200) AS pad "
                         "FROM generate_series(1, 250000) g")
                  .ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60)));
  (*agent)->Kill();

  const std::string wal_dir = data_dir + "/wal";
  std::vector<ArchiveFile> files = ListSegments(wal_dir);
  ASSERT_GE(files.size(), 4u);
  const ArchiveFile& newest = files.back();
  ASSERT_TRUE(newest.partial) << newest.name;
  const ArchiveFile& damaged = files[files.size() - 2];
  ASSERT_FALSE(damaged.partial) << damaged.name;
  ASSERT_EQ(damaged.segno + 1, newest.segno) << damaged.name << " " << newest.name;
  int complete = 0;
  for (const ArchiveFile& f : files) complete += f.partial ? 0 : 1;
  ASSERT_GE(complete, 3);

  // A record in the second half of the segment, inside one page and not its first, so
  // that the record before it ends where it starts; one byte of its data is flipped.
  const std::string damaged_path = wal_dir + "/" + damaged.name;
  auto dump = RunShell(absl::StrCat(PgBin("pg_waldump"), " ", ShellQuote(damaged_path)));
  ASSERT_TRUE(dump.ok()) << dump.status();
  const uint64_t seg_start = damaged.segno * kSegmentSize;
  std::optional<WaldumpRecord> victim;
  for (const WaldumpRecord& r : ParseWaldumpRecords(*dump)) {
    const uint64_t in_seg = r.lsn.value() - seg_start;
    const uint64_t in_page = r.lsn.value() % kPageSize;
    if (in_seg >= kSegmentSize / 2 && in_page >= 1024 && in_page + r.tot_len <= kPageSize &&
        r.tot_len >= 64) {
      victim = r;
      break;
    }
  }
  ASSERT_TRUE(victim.has_value()) << "no record to damage in " << damaged.name;
  const uint64_t flip_at = victim->lsn.value() - seg_start + 24 + (victim->tot_len - 24) / 2;
  ASSERT_TRUE(FlipByte(damaged_path, flip_at).ok());

  agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NE(p->last_error().find("failed verification after it was fsynced"), std::string::npos)
      << p->last_error();
  EXPECT_NE(p->last_error().find(absl::StrCat("WAL at ", victim->lsn.ToString())),
            std::string::npos)
      << "damaged record " << victim->line << "\nlast_error: " << p->last_error();
  EXPECT_LT(p->apply_lsn(), p->flush_lsn());
  EXPECT_EQ(Lsn(p->apply_lsn()), victim->lsn)
      << "replay stops at the end of the record before the damage";
  EXPECT_GE(p->flush_lsn(), newest.segno * kSegmentSize)
      << "the durable end still covers the WAL after the damage";

  walrep::v1::PromoteResponse refused;
  st = CallPromote(**agent, absl::Seconds(5), /*force=*/false, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS) << st.error_message();
  auto still = GetProgress(**agent);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_EQ(still->apply_lsn(), p->apply_lsn());

  walrep::v1::PromoteResponse forced;
  st = CallPromote(**agent, absl::Seconds(5), /*force=*/true, &forced);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(forced.switch_lsn(), p->apply_lsn()) << "switch " << Lsn(forced.switch_lsn()).ToString()
                                                 << ", apply " << Lsn(p->apply_lsn()).ToString();
  EXPECT_EQ(forced.timeline(), 2u);
  EXPECT_EQ(forced.progress().role(), walrep::v1::ROLE_PRIMARY);
}

TEST(ReplayE2eTest, RemoteApplyCommitsCompleteAndReplayLsnIsTrue) {
  // No autovacuum: once pgbench ends, nothing writes WAL, so "idle" is a state to observe.
  auto pg = PgPrimary::Start({.extra_conf = {"autovacuum = off"}});
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("replay_remote_apply")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartReplicaOf(**agent, **pg, "");
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(MakeWalrepTheSynchronousStandby(**pg, "remote_apply").ok());
  ASSERT_TRUE(WaitFor([&] { return WalrepIsSyncStandby(**pg); }, absl::Seconds(20)));

  // A commit that waits for apply past statement_timeout is cancelled with a warning (it
  // has committed locally): the warning in the output, or few transactions, means walrep
  // did not report what it replayed.
  const std::string kTimeout = "-c statement_timeout=10s";
  std::string init = RunPgbench(**pg, "-i -s 1 -q", kTimeout);
  ASSERT_NE(init.find("done"), std::string::npos) << init;
  EXPECT_EQ(init.find("canceling wait for synchronous replication"), std::string::npos) << init;
  std::string out = RunPgbench(**pg, "-T 3 -c 2 -N", kTimeout);
  EXPECT_EQ(out.find("canceling wait for synchronous replication"), std::string::npos) << out;
  EXPECT_NE(out.find("number of failed transactions: 0"), std::string::npos) << out;
  EXPECT_GT(ProcessedTransactions(out), 50) << out;

  // Once idle, the primary sees walrep's replay position equal to its flush position.
  std::string reported;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = (*pg)->Psql(absl::StrCat(
            "SELECT flush_lsn = replay_lsn AND flush_lsn >= pg_current_wal_flush_lsn(), "
            "flush_lsn, replay_lsn FROM pg_stat_replication WHERE application_name = '",
            kAppName, "'"));
        if (r.ok()) reported = *r;
        return r.ok() && absl::StartsWith(*r, "t|");
      },
      absl::Seconds(10)))
      << "pg_stat_replication: " << reported;

  Progress idle;
  auto server_flush = ServerFlushLsn(**pg);
  ASSERT_TRUE(server_flush.ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto p = GetProgress(**agent);
        if (p.ok()) idle = *p;
        return p.ok() && p->flush_lsn() >= server_flush->value() &&
               p->apply_lsn() == p->flush_lsn();
      },
      absl::Seconds(10)))
      << "flush " << Lsn(idle.flush_lsn()).ToString() << ", apply "
      << Lsn(idle.apply_lsn()).ToString();
  std::optional<Lsn> replay_reported = ParseLsnText((*pg)->Psql(absl::StrCat(
      "SELECT replay_lsn FROM pg_stat_replication WHERE application_name = '", kAppName, "'")));
  ASSERT_TRUE(replay_reported.has_value());
  EXPECT_LE(replay_reported->value(), idle.apply_lsn())
      << "reported replay " << replay_reported->ToString() << " is ahead of apply "
      << Lsn(idle.apply_lsn()).ToString();
  EXPECT_GT(idle.replay().commits(), 0u);
  EXPECT_EQ(idle.replay().replay_lag().seconds(), 0);
  EXPECT_EQ(idle.replay().replay_lag().nanos(), 0);
  ASSERT_TRUE(idle.replay().has_last_replayed_xact_time());
  const absl::Time last_xact =
      absl::FromUnixSeconds(idle.replay().last_replayed_xact_time().seconds()) +
      absl::Nanoseconds(idle.replay().last_replayed_xact_time().nanos());
  EXPECT_LT(absl::AbsDuration(absl::Now() - last_xact), absl::Seconds(10))
      << "last replayed commit at " << absl::FormatTime(last_xact);
}

TEST(ReplayE2eTest, PromoteStates) {
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("replay_promote_states")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  walrep::v1::PromoteResponse resp;
  grpc::Status st = CallPromote(**agent, absl::Seconds(1), /*force=*/false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();

  // A primary nobody listens for: the agent is a replica but has received no WAL.
  const int closed_port = PickFreePort();
  st = StartReplica(
      **agent,
      absl::StrCat("host=127.0.0.1 port=", closed_port, " user=replicator sslmode=disable"), "");
  ASSERT_TRUE(st.ok()) << st.error_message();
  st = CallPromote(**agent, absl::Seconds(-1), /*force=*/false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = CallPromote(**agent, absl::Seconds(1), /*force=*/false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  st = CallPromote(**agent, absl::Seconds(1), /*force=*/true, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_EQ(p->flush_lsn(), 0u);
  // The refusals changed nothing: the replica still tries to reach its primary.
  EXPECT_NE(p->stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  ASSERT_TRUE(WaitFor([&] {
    auto q = GetProgress(**agent);
    return q.ok() && q->stream_state() == walrep::v1::STREAM_STATE_BACKOFF &&
           q->metrics().sessions_failed() >= 1;
  }, absl::Seconds(30)));
}

// Promote while a base backup runs (FetchBaseBackup into another directory) is refused,
// and succeeds once the backup has ended.
TEST(ReplayE2eTest, PromoteIsRefusedWhileABaseBackupRuns) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string data_dir = FreshTestDir("replay_promote_backup");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplicaOf(**agent, **pg, "walrep_backup").ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE filler AS SELECT g, md5(g::text) FROM generate_series(1, 20000) g").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->flush_lsn() > 0 && p->apply_lsn() == p->flush_lsn();
  }, absl::Seconds(30)));

  walrep::v1::FetchBaseBackupRequest req;
  req.set_conninfo((*pg)->ReplConnInfo("application_name=walrep_backup"));
  req.set_target_dir(FreshTestDir("replay_promote_backup_copy") + "/copy");
  req.set_max_rate_bytes_per_second(64 * 1024);  // minutes for the whole cluster
  auto ctx = (*agent)->Context(absl::Minutes(5));
  grpc::Status backup_status;
  std::thread backup([&] {
    auto reader = (*agent)->stub()->FetchBaseBackup(ctx.get(), req);
    walrep::v1::FetchBaseBackupResponse msg;
    while (reader->Read(&msg)) {
    }
    backup_status = reader->Finish();
  });
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->has_backup() && p->backup().bytes_done() > 0;
  }, absl::Seconds(30)));
  walrep::v1::PromoteResponse resp;
  grpc::Status st = CallPromote(**agent, absl::Seconds(5), /*force=*/true, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("base backup"), std::string::npos) << st.error_message();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role(), walrep::v1::ROLE_REPLICA);
  ctx->TryCancel();
  backup.join();
  EXPECT_EQ(backup_status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitFor([&] {
    auto q = GetProgress(**agent);
    return q.ok() && !q->has_backup();
  }, absl::Seconds(10)));
  st = CallPromote(**agent, absl::Seconds(30), /*force=*/false, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_GE(resp.switch_lsn(), p->flush_lsn());  // the primary may have written more since
}


}  // namespace
}  // namespace walrep::testing
