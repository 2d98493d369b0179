// The streaming replica end to end: the daemon as a process, driven over gRPC, against a
// real PostgreSQL 15 primary. WAL on disk is compared byte for byte with the primary's.
#include <signal.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

TEST(StreamE2eTest, ByteIdenticalWalWhilePgbenchWritesAndAfterKillNine) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("kill9");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  Progress started;
  grpc::Status st = StartReplica(**agent, (*pg)->ReplConnInfo("application_name=walrep"),
                                 "walrep_e2e", &started);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(started.role(), walrep::v1::ROLE_REPLICA);
  EXPECT_NE(started.system_identifier(), 0u);
  EXPECT_EQ(started.primary_conninfo().find((*pg)->kReplPassword), std::string::npos);

  std::string init = Pgbench(**pg, "-i -s 3 -q");
  ASSERT_NE(init.find("done"), std::string::npos) << init;
  // Writes go on while the agent is killed and restarted.
  std::thread writer([&] { Pgbench(**pg, "-T 6 -c 2 -N"); });
  absl::SleepFor(absl::Seconds(2));
  // What the primary was told last, just before the kill.
  auto told = (*pg)->Psql(
      "SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'walrep'");
  ASSERT_TRUE(told.ok()) << told.status();
  (*agent)->Kill();
  auto told_lsn = Lsn::Parse(*told);
  ASSERT_TRUE(told_lsn.ok()) << *told;

  agent = AgentProcess::Start({.data_dir = data_dir});  // no RPC: it resumes by itself
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto after = GetProgress(**agent);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_GE(after->flush_lsn(), told_lsn->value())
      << "flush after restart " << Lsn(after->flush_lsn()).ToString() << " is below "
      << told_lsn->ToString() << ", which the primary was already told";
  writer.join();

  Lsn target;
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60), &target))
      << "agent at " << AgentFlush(**agent).ToString() << ", primary at " << target.ToString();
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  EXPECT_GT(progress->metrics().wal_bytes_received(), 0u);
  EXPECT_GT(progress->metrics().status_updates_sent(), 0u);
  EXPECT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->apply_lsn() == p->flush_lsn();
  }, absl::Seconds(5)));

  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                           Lsn(progress->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_GE(cmp.complete_identical, 2) << "pgbench -s 3 writes several segments";
  EXPECT_EQ(cmp.partial_checked, 1);

  // The primary sees walrep's flush position, never ahead of what is on disk.
  auto reported = (*pg)->Psql(
      "SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'walrep'");
  ASSERT_TRUE(reported.ok());
  EXPECT_LE(Lsn::Parse(*reported)->value(), AgentFlush(**agent).value());

  auto metrics = (*agent)->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("walrep_stream_state{state=\"streaming\"} 1"), std::string::npos);
  EXPECT_NE(metrics->find("walrep_sessions_started_total 1"), std::string::npos);
}

TEST(StreamE2eTest, PrimaryRestartReconnectsAndContinues) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("restart");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo(), "walrep_restart").ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 50000) AS x").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));

  // pg_ctl stop -m fast: the walsender ends COPY with CommandComplete, a planned end.
  ASSERT_TRUE((*pg)->Stop().ok());
  ASSERT_TRUE(WaitFor([&] {
    auto q = GetProgress(**agent);
    return q.ok() && q->stream_state() != walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(30)));
  ASSERT_TRUE((*pg)->StartServer().ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 50000)").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_GE(p->metrics().reconnects(), 1u);
  // Sessions: the first ended by the shutdown (not a failure), the attempts refused while
  // the primary was down (failures), the one streaming now.
  EXPECT_EQ(p->metrics().sessions_failed() + 2, p->metrics().sessions_started());
  EXPECT_EQ(p->last_error(), "");
  EXPECT_GE(p->metrics().sessions_started(), 2u);
  EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  WalComparison cmp =
      CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal", Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
}

TEST(StreamE2eTest, CommitsCompleteWithWalrepAsTheOnlySynchronousStandby) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("sync")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo("application_name=walrep_sync")).ok());
  ASSERT_TRUE((*pg)->Psql("ALTER SYSTEM SET synchronous_standby_names = 'walrep_sync'").ok());
  ASSERT_TRUE((*pg)->Psql("ALTER SYSTEM SET synchronous_commit = on").ok());
  ASSERT_TRUE((*pg)->Psql("SELECT pg_reload_conf()").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto s = (*pg)->Psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'walrep_sync'");
    return s.ok() && *s == "sync";
  }, absl::Seconds(20)));
  ASSERT_NE(Pgbench(**pg, "-i -s 1 -q").find("done"), std::string::npos);
  // With walrep acknowledging only fsynced WAL, every commit waits for it: if it never
  // acknowledged, pgbench would hang and the test time out.
  std::string out = Pgbench(**pg, "-T 3 -c 2 -N");
  EXPECT_NE(out.find("number of failed transactions: 0"), std::string::npos) << out;
  size_t at = out.find("number of transactions actually processed: ");
  ASSERT_NE(at, std::string::npos) << out;
  long processed = std::stol(out.substr(at + 43));
  EXPECT_GT(processed, 50) << out;
  auto wait_events = (*pg)->Psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
  EXPECT_EQ(*wait_events, "0");
}

TEST(StreamE2eTest, PromoteOpensTimelineTwoAndTheRoleSurvivesRestart) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("promote");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo()).ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE p AS SELECT 1 AS x").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));
  Lsn flushed = AgentFlush(**agent);

  walrep::v1::PromoteRequest req;
  req.mutable_apply_timeout()->set_seconds(10);
  walrep::v1::PromoteResponse resp;
  auto ctx = (*agent)->Context();
  grpc::Status st = (*agent)->stub()->Promote(ctx.get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_GE(resp.switch_lsn(), flushed.value());
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_PRIMARY);
  auto history = RunShell("cat " + ShellQuote(data_dir + "/wal/00000002.history"));
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(*history, absl::StrCat("1\t", Lsn(resp.switch_lsn()).ToString(), "\tpromoted by walrep\n"));

  // Again: the same answer (reconcile loops retry).
  walrep::v1::PromoteResponse again;
  auto ctx2 = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->Promote(ctx2.get(), req, &again).ok());
  EXPECT_EQ(again.timeline(), 2u);
  EXPECT_EQ(again.switch_lsn(), resp.switch_lsn());

  // Restarted, it stays a primary and refuses to follow anyone.
  agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_EQ(p->timeline(), 2u);
  EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  st = StartReplica(**agent, (*pg)->ReplConnInfo());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
}

TEST(StreamE2eTest, BadRequestsAndAnUnreachablePrimary) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("errors")});
  ASSERT_TRUE(agent.ok()) << agent.status();

  grpc::Status st = StartReplica(**agent, "host=127.0.0.1 port='5432");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = StartReplica(**agent, "host=127.0.0.1 port=abc");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("port"), std::string::npos) << st.error_message();
  st = StartReplica(**agent, "host=127.0.0.1 sslmode=bogus");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("sslmode"), std::string::npos) << st.error_message();
  st = StartReplica(**agent, "host=127.0.0.1 bogus_key=1");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("bogus_key"), std::string::npos) << st.error_message();
  st = StartReplica(**agent, (*pg)->ReplConnInfo(), "Bad-Slot");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = StartReplica(**agent, (*pg)->ReplConnInfo(), "", nullptr,
                    [](walrep::v1::StartReplicaRequest* r) {
                      r->mutable_receiver_timeout()->set_nanos(500000000);  // 0.5 s
                    });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("receiver_timeout"), std::string::npos) << st.error_message();

  st = StartReplica(**agent, (*pg)->ReplConnInfo(), "", nullptr,
                    [](walrep::v1::StartReplicaRequest* r) { r->set_expected_system_identifier(42); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("42"), std::string::npos) << st.error_message();

  // Wrong password: the call succeeds (the agent keeps retrying), the error shows.
  std::string wrong = absl::StrCat("host=127.0.0.1 port=", (*pg)->port(),
                                   " user=replicator password=wrong sslmode=disable");
  st = StartReplica(**agent, wrong);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->last_error().find("password authentication failed") != std::string::npos;
  }, absl::Seconds(10)));

  // Unreachable: BACKOFF, a growing reconnect count, and an error that says what failed.
  int closed_port = PickFreePort();
  std::string unreachable = absl::StrCat("host=127.0.0.1 port=", closed_port, " user=replicator");
  st = StartReplica(**agent, unreachable);
  EXPECT_TRUE(st.ok()) << st.error_message();
  uint64_t first = 0;
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    if (!p.ok() || p->metrics().reconnects() < 1) return false;
    first = p->metrics().reconnects();
    return true;
  }, absl::Seconds(10)));
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->metrics().reconnects() > first;
  }, absl::Seconds(10)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->stream_state() == walrep::v1::STREAM_STATE_BACKOFF ||
              p->stream_state() == walrep::v1::STREAM_STATE_CONNECTING);
  EXPECT_NE(p->last_error().find(absl::StrCat(closed_port)), std::string::npos) << p->last_error();
  EXPECT_GE(p->metrics().sessions_failed(), 2u);
}

TEST(StreamE2eTest, FollowsATimelineSwitchOfAPromotedCascadingStandby) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE c AS SELECT generate_series(1, 1000) AS x").ok());
  auto standby = StartStandby(**pg);
  ASSERT_TRUE(standby.ok()) << standby.status();
  std::string data_dir = FreshTestDir("timeline");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  // walrep follows the standby (cascading replication).
  std::string conninfo = absl::StrCat("host=127.0.0.1 port=", (*standby)->port(),
                                      " user=replicator password=", PgPrimary::kReplPassword,
                                      " sslmode=disable");
  ASSERT_TRUE(StartReplica(**agent, conninfo).ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO c SELECT generate_series(1, 100000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto a = ServerFlushLsn(**pg);
    auto s = ServerFlushLsn(**standby);
    return a.ok() && s.ok() && *s >= *a;
  }, absl::Seconds(30)));
  ASSERT_TRUE(CaughtUp(**agent, **standby, absl::Seconds(30)));

  ASSERT_TRUE((*standby)->Promote().ok());
  ASSERT_TRUE((*standby)->Psql("INSERT INTO c SELECT generate_series(1, 100000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->timeline() == 2;
  }, absl::Seconds(30)));
  ASSERT_TRUE(CaughtUp(**agent, **standby, absl::Seconds(30)));
  auto history = RunShell("cmp " + ShellQuote(data_dir + "/wal/00000002.history") + " " +
                          ShellQuote((*standby)->data_dir() + "/pg_wal/00000002.history"));
  EXPECT_TRUE(history.ok()) << history.status();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*standby)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_GE(cmp.partial_checked, 1);
  auto files = RunShell("ls " + ShellQuote(data_dir + "/wal"));
  ASSERT_TRUE(files.ok());
  EXPECT_NE(files->find("00000002"), std::string::npos) << *files;
}

// md5sum of every timeline-1 file in the archive, one line each.
std::string TimelineOneChecksums(const std::string& wal_dir) {
  auto out = RunShell("cd " + ShellQuote(wal_dir) + " && md5sum 00000001* | sort");
  return out.ok() ? *out : std::string(out.status().message());
}

// The Patroni case: walrep, an asynchronous receiver, is ahead of the standby that gets
// promoted after the primary dies. The new timeline forks below walrep's durable
// position; walrep follows it from the fork, keeps timeline 1's files as they are, and
// never tells the new primary of WAL it does not have.
TEST(StreamE2eTest, FollowsANewTimelineThatForkedBelowItsPosition) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE f AS SELECT generate_series(1, 1000) AS x").ok());
  auto standby = StartStandby(**pg);
  ASSERT_TRUE(standby.ok()) << standby.status();
  std::string data_dir = FreshTestDir("fork");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo()).ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO f SELECT generate_series(1, 10000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto a = ServerFlushLsn(**pg);
    auto s = ServerFlushLsn(**standby);
    return a.ok() && s.ok() && *s >= *a;
  }, absl::Seconds(30)));
  // The standby falls behind; walrep goes on receiving.
  ASSERT_TRUE((*standby)->Stop().ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO f SELECT generate_series(1, 300000)").ok());
  Lsn ahead;
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60), &ahead));
  // The primary dies; the standby is promoted from behind walrep.
  ASSERT_TRUE(RunShell(absl::StrCat("runuser -u postgres -- ", PgPrimary::kBinDir,
                                    "/pg_ctl stop -m immediate -D ",
                                    ShellQuote((*pg)->data_dir()), " >/dev/null"))
                  .ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_BACKOFF;
  }, absl::Seconds(30)));
  const Lsn held = AgentFlush(**agent);
  ASSERT_GE(held, ahead);
  const std::string before = TimelineOneChecksums(data_dir + "/wal");
  ASSERT_TRUE((*standby)->StartServer().ok());
  ASSERT_TRUE((*standby)->Promote().ok());
  auto fork_text = (*standby)->Psql("SELECT pg_current_wal_flush_lsn()");
  ASSERT_TRUE(fork_text.ok());
  ASSERT_LT(Lsn::Parse(*fork_text)->value(), held.value()) << "the standby was not behind";
  ASSERT_TRUE((*standby)->Psql("INSERT INTO f VALUES (1)").ok());

  ASSERT_TRUE(StartReplica(**agent, absl::StrCat("host=127.0.0.1 port=", (*standby)->port(),
                                                 " user=replicator password=",
                                                 PgPrimary::kReplPassword, " sslmode=disable"))
                  .ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->timeline() == 2 &&
           p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(30))) << GetProgress(**agent)->last_error();
  Lsn new_end;
  ASSERT_TRUE(CaughtUp(**agent, **standby, absl::Seconds(30), &new_end));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_LT(p->flush_lsn(), held.value());  // on timeline 2 now, short of what timeline 1 had
  // The new primary is never told of WAL past what it has.
  auto reported = (*standby)->Psql("SELECT flush_lsn FROM pg_stat_replication");
  ASSERT_TRUE(reported.ok());
  auto own = (*standby)->Psql("SELECT pg_current_wal_flush_lsn()");
  ASSERT_TRUE(own.ok());
  EXPECT_LE(Lsn::Parse(*reported)->value(), Lsn::Parse(*own)->value());
  // Timeline 1's files are as they were (its WAL past the fork differs from what the new
  // primary holds under those names, rightly); timeline 2's equal the new primary's.
  EXPECT_EQ(TimelineOneChecksums(data_dir + "/wal"), before);
  const std::string tli2 = data_dir + "-tli2";
  ASSERT_TRUE(RunShell("mkdir -p " + ShellQuote(tli2) + " && ln -s " + ShellQuote(data_dir) +
                       "/wal/00000002* " + ShellQuote(tli2) + "/")
                  .ok());
  WalComparison cmp = CompareWithServerWal(tli2, (*standby)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_GE(cmp.partial_checked, 1);
  EXPECT_TRUE(RunShell("test -f " + ShellQuote(data_dir + "/wal/00000002.history")).ok());
  EXPECT_EQ(p->last_error(), "");
}

// host=standby,primary target_session_attrs=read-write: walrep streams from the primary,
// not the standby listed first; after a failover (the standby promoted, the old primary
// stopped) it connects to the new primary and follows it onto timeline 2.
TEST(StreamE2eTest, TargetSessionAttrsReadWriteFollowsTheFailover) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE h AS SELECT generate_series(1, 1000) AS x").ok());
  auto standby = StartStandby(**pg);
  ASSERT_TRUE(standby.ok()) << standby.status();
  std::string data_dir = FreshTestDir("tsa");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string conninfo = absl::StrCat(
      "host=127.0.0.1,127.0.0.1 port=", (*standby)->port(), ",", (*pg)->port(),
      " user=replicator password=", PgPrimary::kReplPassword,
      " sslmode=disable application_name=walrep target_session_attrs=read-write");
  ASSERT_TRUE(StartReplica(**agent, conninfo).ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO h SELECT generate_series(1, 20000)").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));
  auto on_primary = (*pg)->Psql(
      "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'walrep'");
  ASSERT_TRUE(on_primary.ok());
  EXPECT_EQ(*on_primary, "1");
  auto on_standby = (*standby)->Psql(
      "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'walrep'");
  ASSERT_TRUE(on_standby.ok());
  EXPECT_EQ(*on_standby, "0");
  ASSERT_TRUE(WaitFor([&] {
    auto a = ServerFlushLsn(**pg);
    auto b = ServerFlushLsn(**standby);
    return a.ok() && b.ok() && *b >= *a;
  }, absl::Seconds(30)));

  // Failover.
  ASSERT_TRUE((*pg)->Stop().ok());
  ASSERT_TRUE((*standby)->Promote().ok());
  ASSERT_TRUE((*standby)->Psql("INSERT INTO h SELECT generate_series(1, 20000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->timeline() == 2 &&
           p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(60))) << GetProgress(**agent)->last_error();
  ASSERT_TRUE(CaughtUp(**agent, **standby, absl::Seconds(30)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*standby)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_TRUE(RunShell("cmp " + ShellQuote(data_dir + "/wal/00000002.history") + " " +
                       ShellQuote((*standby)->data_dir() + "/pg_wal/00000002.history"))
                  .ok());
}

}  // namespace
}  // namespace walrep::testing
