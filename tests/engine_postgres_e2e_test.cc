// Engine postgres end to end, through the daemon and its gRPC API against a real
// PostgreSQL 15 primary: StartReplica with bootstrap makes a hot standby in
// <data_dir>/pgdata that replays what walrep streams into its pg_wal, serves the same
// rows, refuses writes (25006) until Promote, and then accepts them on the server's own
// new timeline; a crashed standby is restarted and a restarted agent adopts the running
// one. remote_apply: engine_remote_apply_e2e_test.cc.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/engine_e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

std::string Fingerprint(const std::function<absl::StatusOr<std::string>(const std::string&)>& psql) {
  std::string out;
  for (const char* table : {"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"}) {
    auto r = psql(absl::StrCat("SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM ",
                               table, " t"));
    absl::StrAppend(&out, table, "=", r.ok() ? *r : std::string(r.status().message()), " ");
  }
  return out;
}

TEST(EnginePostgresE2eTest, ABootstrappedHotStandbyServesTheRowsRefusesWritesAndPromotes) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_NE(Pgbench(**pg, "-i -s 2 -q").find("done"), std::string::npos);
  const std::string data_dir = EngineDataDir("engine-pg");
  const int port = PickFreePort();
  Standby standby(data_dir, port);
  auto agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = Bootstrap(**agent, **pg);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_NE(Pgbench(**pg, "-T 3 -c 2 -N").find("number of failed transactions: 0"), std::string::npos);
  ASSERT_TRUE(Replayed(**agent, **pg, absl::Seconds(120))) << (*agent)->ReadLog();

  auto on_primary = [&](const std::string& sql) { return (*pg)->Psql(sql); };
  auto on_standby = [&](const std::string& sql) { return standby.Psql(sql); };
  EXPECT_EQ(Fingerprint(on_standby), Fingerprint(on_primary));
  EXPECT_EQ(*standby.Psql("SELECT pg_is_in_recovery()"), "t");
  auto refused = standby.Psql("INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 1, 1, 1)",
                              /*verbose=*/true);
  EXPECT_NE(refused->find("25006"), std::string::npos) << *refused;
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->engine().read_only());
  // Ready for reads: the server is up, the stream runs, apply lag within the limit.
  auto ready = (*agent)->HttpGet("/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_NE(ready->find("ready: streaming"), std::string::npos) << *ready;
  EXPECT_EQ(p->engine().port(), port);
  EXPECT_GT(p->engine().pid(), 0);
  EXPECT_LE(p->apply_lsn(), p->flush_lsn());
  // Status updates carry the server's replay position: the primary's replay_lsn for
  // walrep reaches its own flush position.
  auto flushed = ServerFlushLsn(**pg);
  ASSERT_TRUE(flushed.ok());
  EXPECT_TRUE(WaitFor([&] {
    auto r = (*pg)->Psql(absl::StrCat("SELECT replay_lsn >= '", flushed->ToString(),
                                      "' FROM pg_stat_replication WHERE application_name = 'walrep'"));
    return r.ok() && *r == "t";
  }, absl::Seconds(30)));

  // The primary goes away; Promote makes the standby a writable primary on the server's
  // own timeline 2, with every committed row.
  const std::string before = Fingerprint(on_primary);
  ASSERT_TRUE((*pg)->Stop().ok());
  walrep::v1::PromoteRequest req;
  req.mutable_apply_timeout()->set_seconds(60);
  walrep::v1::PromoteResponse resp;
  auto ctx = (*agent)->Context(absl::Seconds(120));
  grpc::Status promoted = (*agent)->stub()->Promote(ctx.get(), req, &resp);
  ASSERT_TRUE(promoted.ok()) << promoted.error_message() << (*agent)->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_GT(resp.switch_lsn(), 0u);
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_EQ(resp.progress().engine().state(), walrep::v1::ENGINE_STATE_PRIMARY);
  EXPECT_EQ(*standby.Psql("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(Fingerprint(on_standby), before);
  EXPECT_EQ(*standby.Psql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), "00000002");
  auto history = RunShell("cat " + ShellQuote(data_dir + "/pgdata/pg_wal/00000002.history"));
  ASSERT_TRUE(history.ok());
  EXPECT_NE(history->find(Lsn(resp.switch_lsn()).ToString()), std::string::npos) << *history;
  auto ready_primary = (*agent)->HttpGet("/readyz");
  ASSERT_TRUE(ready_primary.ok()) << ready_primary.status();
  EXPECT_EQ(*ready_primary, "ready: primary\n");
  auto written = standby.Psql("INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 1, 1, 1)");
  EXPECT_EQ(*written, "") << *written;
  // Again: the same answer.
  walrep::v1::PromoteResponse again;
  auto ctx2 = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->Promote(ctx2.get(), req, &again).ok());
  EXPECT_EQ(again.timeline(), 2u);
  EXPECT_EQ(again.switch_lsn(), resp.switch_lsn());
}

// A REPEATABLE READ transaction on the standby holds a snapshot while the primary
// updates and VACUUMs its table; returns what the standby's session printed.
std::string SnapshotAcrossVacuum(bool feedback) {
  auto pg = PgPrimary::Start();
  if (!pg.ok()) return std::string(pg.status().message());
  // The standby replays from pg_wal (no walreceiver): max_standby_archive_delay is the
  // conflict delay that applies there. Short, so a conflict cancels within the test.
  (void)(*pg)->Psql("ALTER SYSTEM SET max_standby_archive_delay = '500ms'");
  (void)(*pg)->Psql("SELECT pg_reload_conf()");
  (void)(*pg)->Psql("CREATE TABLE t WITH (autovacuum_enabled = off) AS "
                    "SELECT i, 0 AS v FROM generate_series(1, 20000) i");
  const std::string data_dir = EngineDataDir(feedback ? "feedback-on" : "feedback-off");
  const int port = PickFreePort();
  Standby standby(data_dir, port);
  auto agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  if (!agent.ok()) return std::string(agent.status().message());
  grpc::Status st = StartReplica(**agent, (*pg)->ReplConnInfo(), "walrep_engine", nullptr,
                                 [feedback](walrep::v1::StartReplicaRequest* r) {
                                   r->set_bootstrap(true);
                                   r->set_hot_standby_feedback(feedback);
                                 });
  if (!st.ok()) return st.error_message();
  if (!Replayed(**agent, **pg, absl::Seconds(120))) return "not replayed: " + (*agent)->ReadLog();
  const std::string out = data_dir + "/../session.out";
  (void)RunShell(absl::StrCat(
      "cd /tmp && (runuser -u postgres -- ", PgPrimary::kBinDir, "/psql -XAt -h ",
      ShellQuote(data_dir + "/pgsocket"), " -p ", port, " -d postgres -c ",
      ShellQuote("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT sum(v) FROM t; "
                 "SELECT pg_sleep(6); SELECT sum(v) FROM t; COMMIT;"),
      " > ", ShellQuote(out), " 2>&1; echo END >> ", ShellQuote(out), ") >/dev/null 2>&1 &"));
  // The snapshot is taken; with feedback the primary then holds its xmin.
  bool held = WaitFor([&] {
    auto r = standby.Psql("SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL "
                          "AND query LIKE 'BEGIN ISOLATION%'");
    return r.ok() && *r == "1";
  }, absl::Seconds(10));
  if (!held) return "the standby session did not start";
  if (feedback) {
    bool fed = WaitFor([&] {
      // Through a physical slot the walsender keeps the feedback in the slot.
      auto r = (*pg)->Psql("SELECT xmin IS NOT NULL FROM pg_replication_slots "
                           "WHERE slot_name = 'walrep_engine'");
      return r.ok() && *r == "t";
    }, absl::Seconds(20));
    if (!fed) return "the primary never saw an xmin from walrep";
  }
  (void)(*pg)->Psql("UPDATE t SET v = v + 1");
  (void)(*pg)->Psql("VACUUM t");
  (void)(*pg)->Psql("SELECT pg_switch_wal()");
  WaitFor([&] {
    auto r = RunShell("cat " + ShellQuote(out));
    return r.ok() && r->find("END") != std::string::npos;
  }, absl::Seconds(60));
  auto r = RunShell("cat " + ShellQuote(out));
  return r.ok() ? *r : std::string(r.status().message());
}

TEST(EnginePostgresE2eTest, HotStandbyFeedbackKeepsTheRowsAReplicaSnapshotNeeds) {
  const std::string with = SnapshotAcrossVacuum(/*feedback=*/true);
  EXPECT_EQ(with.find("conflict with recovery"), std::string::npos) << with;
  EXPECT_NE(with.find("COMMIT"), std::string::npos) << with;
  // The same without feedback: VACUUM removes them and the standby cancels the query.
  const std::string without = SnapshotAcrossVacuum(/*feedback=*/false);
  EXPECT_NE(without.find("conflict with recovery"), std::string::npos) << without;
}

// An unplanned failover to the less advanced replica: walrep's hot standby follows
// `pg` with host=pg,other target_session_attrs=read-write; `other` (a PostgreSQL standby)
// falls behind, walrep's standby replays more, `pg` goes away and `other` is promoted.
class DivergedFailover {
 public:
  void SetUp(bool rewind) {
    auto pg = PgPrimary::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    // Both replicas stream without a slot (a slot would not exist on the promoted node),
    // so the primary keeps WAL for them as a slotless deployment must: without it the
    // CHECKPOINT below may remove the segment walrep's stream starts from right after its
    // bootstrap (FAILED/WAL_REMOVED_ON_PRIMARY, correctly).
    ASSERT_TRUE(pg_->Psql("ALTER SYSTEM SET wal_keep_size = '256MB'").ok());
    ASSERT_TRUE(pg_->Psql("SELECT pg_reload_conf()").ok());
    ASSERT_TRUE(pg_->Psql("CREATE TABLE h AS SELECT generate_series(1, 1000) AS x").ok());
    // What pg_rewind needs on the source, for a role that is not a superuser.
    for (const char* fn : {"pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)",
                           "pg_read_binary_file(text)",
                           "pg_read_binary_file(text, bigint, bigint, boolean)"}) {
      ASSERT_TRUE(pg_->Psql(absl::StrCat("GRANT EXECUTE ON FUNCTION pg_catalog.", fn,
                                         " TO replicator")).ok());
    }
    auto other = StartStandby(*pg_);
    ASSERT_TRUE(other.ok()) << other.status();
    other_ = std::move(*other);
    data_dir_ = EngineDataDir(rewind ? "engine-rewind" : "engine-diverged");
    port_ = PickFreePort();
    standby_ = std::make_unique<Standby>(data_dir_, port_);
    auto agent = AgentProcess::Start({.data_dir = data_dir_, .extra_flags = EngineFlags(port_)});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    const std::string conninfo = absl::StrCat(
        "host=127.0.0.1,127.0.0.1 port=", pg_->port(), ",", other_->port(),
        " user=replicator password=", PgPrimary::kReplPassword,
        " sslmode=disable application_name=walrep target_session_attrs=read-write");
    ASSERT_TRUE(StartReplica(*agent_, conninfo, "", nullptr, [rewind](walrep::v1::StartReplicaRequest* r) {
                  r->set_bootstrap(true);
                  r->set_rewind_on_divergence(rewind);
                }).ok());
    // A checkpoint both replicas have: the last one before the fork, from where pg_rewind
    // replays the target's WAL (its segment is still in the standby's pg_wal).
    ASSERT_TRUE(pg_->Psql("CHECKPOINT").ok());
    ASSERT_TRUE(Replayed(*agent_, *pg_, absl::Seconds(120))) << agent_->ReadLog();
    ASSERT_TRUE(WaitFor([&] {
      auto a = ServerFlushLsn(*pg_);
      auto b = ServerFlushLsn(*other_);
      return a.ok() && b.ok() && *b >= *a;
    }, absl::Seconds(30)));
    ASSERT_TRUE(other_->Stop().ok());
    ASSERT_TRUE(pg_->Psql("INSERT INTO h SELECT generate_series(1, 5000)").ok());
    ASSERT_TRUE(Replayed(*agent_, *pg_, absl::Seconds(60)));
    replayed_ = Lsn(GetProgress(*agent_)->apply_lsn());
    ASSERT_TRUE(pg_->Stop().ok());
    ASSERT_TRUE(other_->StartServer().ok());
    ASSERT_TRUE(other_->Promote().ok());
  }

  std::unique_ptr<PgPrimary> pg_, other_;
  std::string data_dir_;
  int port_ = 0;
  std::unique_ptr<Standby> standby_;
  std::unique_ptr<AgentProcess> agent_;
  Lsn replayed_;
};

TEST(EnginePostgresE2eTest, AStandbyThatReplayedPastTheNewPrimarysForkFailsAsDiverged) {
  DivergedFailover f;
  ASSERT_NO_FATAL_FAILURE(f.SetUp(/*rewind=*/false));
  auto history = RunShell("cat " + ShellQuote(f.other_->data_dir() + "/pg_wal/00000002.history"));
  ASSERT_TRUE(history.ok());
  Progress failed;
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*f.agent_);
    if (!p.ok() || p->stream_state() != walrep::v1::STREAM_STATE_FAILED) return false;
    failed = *p;
    return true;
  }, absl::Seconds(60))) << f.agent_->ReadLog();
  EXPECT_EQ(failed.failure_reason(), walrep::v1::FAILURE_REASON_DIVERGED);
  // The message names the fork point from the new primary's history and what to do.
  std::vector<std::string> fields = absl::StrSplit(*history, '\t');
  ASSERT_GE(fields.size(), 2u) << *history;
  EXPECT_NE(failed.last_error().find(absl::StrCat("at ", fields[1])), std::string::npos)
      << failed.last_error() << " / " << *history;
  // ... and how far the standby got (at least what it had replayed before the failover).
  const size_t at = failed.last_error().find("already replayed up to ");
  ASSERT_NE(at, std::string::npos) << failed.last_error();
  const std::string rest = failed.last_error().substr(at + 23);
  auto said = Lsn::Parse(rest.substr(0, rest.find(' ')));
  ASSERT_TRUE(said.ok()) << failed.last_error();
  EXPECT_GE(*said, f.replayed_);
  EXPECT_NE(failed.last_error().find("pg_rewind"), std::string::npos);
  // Still serving reads of what it had, never the new primary's timeline.
  EXPECT_EQ(*f.standby_->Psql("SELECT count(*) FROM h"), "6000");
  EXPECT_EQ(*f.standby_->Psql("SELECT pg_is_in_recovery()"), "t");
}

TEST(EnginePostgresE2eTest, WithRewindOnDivergenceTheStandbyIsRewoundAndFollowsTheNewPrimary) {
  DivergedFailover f;
  ASSERT_NO_FATAL_FAILURE(f.SetUp(/*rewind=*/true));
  ASSERT_TRUE(f.other_->Psql("INSERT INTO h SELECT generate_series(1, 300)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*f.agent_);
    return p.ok() && p->timeline() == 2 && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(120))) << f.agent_->ReadLog();
  ASSERT_TRUE(Replayed(*f.agent_, *f.other_, absl::Seconds(60))) << f.agent_->ReadLog();
  // The rows the old primary wrote after the fork are gone; the new primary's are there.
  EXPECT_EQ(*f.standby_->Psql("SELECT count(*) FROM h"), *f.other_->Psql("SELECT count(*) FROM h"));
  EXPECT_EQ(*f.standby_->Psql("SELECT count(*) FROM h"), "1300");
  EXPECT_EQ(*f.standby_->Psql("SELECT pg_is_in_recovery()"), "t");
  auto p = GetProgress(*f.agent_);
  EXPECT_EQ(p->failure_reason(), walrep::v1::FAILURE_REASON_UNSPECIFIED);
  EXPECT_NE(f.agent_->ReadLog().find("pg_rewind"), std::string::npos);
}

TEST(EnginePostgresE2eTest, AHotStandbyOfACascadingStandbyFollowsItsPromotionAndKeepsServing) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE c AS SELECT generate_series(1, 1000) AS x").ok());
  auto upstream = StartStandby(**pg);
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  ASSERT_TRUE(WaitFor([&] {
    auto a = ServerFlushLsn(**pg);
    auto s = ServerFlushLsn(**upstream);
    return a.ok() && s.ok() && *s >= *a;
  }, absl::Seconds(30)));
  const std::string data_dir = EngineDataDir("engine-cascade");
  const int port = PickFreePort();
  Standby standby(data_dir, port);
  auto agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  // walrep's hot standby follows the standby (cascading), bootstrapped from it.
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", (*upstream)->port(),
                                            " user=replicator password=", PgPrimary::kReplPassword,
                                            " sslmode=disable");
  ASSERT_TRUE(StartReplica(**agent, conninfo, "", nullptr, [](walrep::v1::StartReplicaRequest* r) {
                r->set_bootstrap(true);
              }).ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO c SELECT generate_series(1, 10000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto a = ServerFlushLsn(**pg);
    auto s = ServerFlushLsn(**upstream);
    return a.ok() && s.ok() && *s >= *a;
  }, absl::Seconds(30)));
  ASSERT_TRUE(Replayed(**agent, **upstream, absl::Seconds(120))) << (*agent)->ReadLog();
  EXPECT_EQ(*standby.Psql("SELECT count(*) FROM c"), "11000");

  // The upstream is promoted: timeline 2. walrep follows, and so does its standby.
  ASSERT_TRUE((*upstream)->Promote().ok());
  ASSERT_TRUE((*upstream)->Psql("INSERT INTO c SELECT generate_series(1, 5000)").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->timeline() == 2 && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(60))) << (*agent)->ReadLog();
  ASSERT_TRUE(Replayed(**agent, **upstream, absl::Seconds(60))) << (*agent)->ReadLog();
  EXPECT_EQ(*standby.Psql("SELECT count(*) FROM c"), "16000");
  EXPECT_EQ(*standby.Psql("SELECT pg_is_in_recovery()"), "t");
  // The rows inserted after the promotion exist only on timeline 2: the server follows
  // it, from the history file walrep placed in its pg_wal.
  auto history = RunShell("cmp " + ShellQuote(data_dir + "/pgdata/pg_wal/00000002.history") +
                          " " + ShellQuote((*upstream)->data_dir() + "/pg_wal/00000002.history"));
  EXPECT_TRUE(history.ok()) << history.status();
}

TEST(EnginePostgresE2eTest, AfterTheSynchronousPrimaryIsKilledPromoteKeepsEveryReportedCommit) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUpUnderSyncCommits("engine-sync-kill", "walrep_sync"));
  // The commit loop runs until the primary is killed under it (-m immediate).
  ASSERT_NO_FATAL_FAILURE(rig.KillPrimary());
  ASSERT_TRUE(WaitFor([&] { return CommitLoopEnded(rig.committed); }, absl::Seconds(30)));
  walrep::v1::PromoteResponse resp;
  grpc::Status promoted = CallPromote(*rig.agent, absl::Seconds(60), /*force=*/false, &resp);
  ASSERT_TRUE(promoted.ok()) << promoted.error_message() << rig.agent->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_EQ(GetProgress(*rig.agent)->timeline(), 2u);
  // Every commit the primary reported is on the promoted replica.
  const int n = CommittedCount(rig.committed);
  EXPECT_EQ(*rig.standby->Psql(MissingCommitsQuery(n)), "0") << "of " << n << " reported commits";
  EXPECT_EQ(*rig.standby->Psql("INSERT INTO k VALUES (-1)"), "");
}

// GetProgress's replay lag and last replayed commit time are the server's: the commit
// time is pg_last_xact_replay_timestamp(); the lag is the age of the durable WAL the
// server has not replayed — growing while its replay is paused, zero once it has caught
// up, and zero on an idle replica however old its last commit.
TEST(EnginePostgresE2eTest, ReplayLagAndLastCommitTimeAreTheServersReplay) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUp("engine-replay-lag"));
  AgentProcess& agent = *rig.agent;
  auto lag_of = [](const walrep::v1::Progress& p) {
    return absl::Seconds(p.replay().replay_lag().seconds()) +
           absl::Nanoseconds(p.replay().replay_lag().nanos());
  };
  const absl::Time before = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE(rig.pg->Psql("INSERT INTO t VALUES (0)").ok());
  ASSERT_TRUE(Replayed(agent, *rig.pg, absl::Seconds(60)));
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(agent);
    return p.ok() && p->replay().has_last_replayed_xact_time() && lag_of(*p) == absl::ZeroDuration();
  }, absl::Seconds(30))) << agent.ReadLog();
  auto p = GetProgress(agent);
  ASSERT_TRUE(p.ok());
  const absl::Time commit = absl::FromUnixSeconds(p->replay().last_replayed_xact_time().seconds());
  EXPECT_GE(commit, absl::FromUnixSeconds(absl::ToUnixSeconds(before)));
  EXPECT_LE(commit, absl::Now() + absl::Seconds(1));

  // Paused replay: the flushed WAL waits, and the lag grows past a second.
  ASSERT_TRUE(rig.standby->Psql("SELECT pg_wal_replay_pause()").ok());
  ASSERT_TRUE(rig.pg->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  auto target = ServerFlushLsn(*rig.pg);
  ASSERT_TRUE(target.ok());
  ASSERT_TRUE(WaitFor([&] {
    auto q = GetProgress(agent);
    return q.ok() && q->flush_lsn() >= target->value() && q->apply_lsn() < q->flush_lsn() &&
           lag_of(*q) >= absl::Seconds(1);
  }, absl::Seconds(30))) << agent.ReadLog();
  EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), "1001");  // not replayed yet

  // Resumed: caught up, no lag.
  ASSERT_TRUE(rig.standby->Psql("SELECT pg_wal_replay_resume()").ok());
  ASSERT_TRUE(Replayed(agent, *rig.pg, absl::Seconds(60)));
  ASSERT_TRUE(WaitFor([&] {
    auto q = GetProgress(agent);
    return q.ok() && lag_of(*q) == absl::ZeroDuration();
  }, absl::Seconds(30))) << agent.ReadLog();
  EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), "2001");
}

TEST(EnginePostgresE2eTest, ACrashedStandbyIsRestartedAndARestartedAgentAdoptsIt) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS i").ok());
  const std::string data_dir = EngineDataDir("engine-crash");
  const int port = PickFreePort();
  Standby standby(data_dir, port);
  auto agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(Bootstrap(**agent, **pg).ok());
  ASSERT_TRUE(Replayed(**agent, **pg, absl::Seconds(120))) << (*agent)->ReadLog();
  const std::string first_pid = standby.PidFileLine1();
  ASSERT_FALSE(first_pid.empty());

  ASSERT_TRUE(RunShell("kill -9 " + first_pid).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->engine().restarts() >= 1 &&
           p->engine().state() == walrep::v1::ENGINE_STATE_RECOVERING;
  }, absl::Seconds(60))) << (*agent)->ReadLog();
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  ASSERT_TRUE(Replayed(**agent, **pg, absl::Seconds(60)));
  EXPECT_EQ(*standby.Psql("SELECT count(*) FROM t"), "2000");
  const std::string second_pid = standby.PidFileLine1();
  EXPECT_NE(second_pid, first_pid);

  // kill -9 of the agent leaves the server running; the next agent adopts it.
  (*agent)->Kill();
  agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->engine().state() == walrep::v1::ENGINE_STATE_RECOVERING &&
           p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(60))) << (*agent)->ReadLog();
  auto p = GetProgress(**agent);
  EXPECT_EQ(absl::StrCat(p->engine().pid()), second_pid);  // adopted, not restarted
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  ASSERT_TRUE(Replayed(**agent, **pg, absl::Seconds(60)));
  EXPECT_EQ(*standby.Psql("SELECT count(*) FROM t"), "3000");
}

}  // namespace
}  // namespace walrep::testing
