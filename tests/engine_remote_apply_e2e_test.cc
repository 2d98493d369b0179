// Engine postgres and synchronous_commit = remote_apply, end to end through the daemon
// against a real PostgreSQL 15 primary: a commit returns only once its row is visible on
// walrep's hot standby, whether the replay position is learnt from the startup process's
// log lines (the fast path) or, where the server does not log them, by queries; a line
// forged by a session on the standby moves nothing.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/engine_e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

// A primary with a table t, and an agent with engine postgres bootstrapped from it and
// made its remote_apply synchronous standby as `app`; `primary_sql` runs on the primary
// before the bootstrap (its settings are copied to the standby).
struct RemoteApplyRig {
  std::unique_ptr<PgPrimary> pg;
  std::unique_ptr<Standby> standby;
  std::unique_ptr<AgentProcess> agent;
};
void StartRemoteApplyRig(const std::string& app, const std::vector<std::string>& primary_sql,
                         RemoteApplyRig* rig) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  rig->pg = std::move(*pg);
  ASSERT_TRUE(rig->pg->Psql("CREATE TABLE t (i int)").ok());
  for (const std::string& sql : primary_sql) ASSERT_TRUE(rig->pg->Psql(sql).ok()) << sql;
  const std::string data_dir = EngineDataDir("engine-" + app);
  const int port = PickFreePort();
  rig->standby = std::make_unique<Standby>(data_dir, port);
  auto agent = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  rig->agent = std::move(*agent);
  ASSERT_TRUE(Bootstrap(*rig->agent, *rig->pg, "application_name=" + app).ok());
  ASSERT_TRUE(Replayed(*rig->agent, *rig->pg, absl::Seconds(120))) << rig->agent->ReadLog();
  ASSERT_TRUE(MakeSynchronous(*rig->pg, app, "remote_apply"));
}
// Commits rows 1..n one by one: when each commit returns, the primary was told it is
// replayed on the standby, so the row must be visible there.
void CommitAndSeeEach(RemoteApplyRig& rig, int n) {
  for (int i = 1; i <= n; ++i) {
    ASSERT_TRUE(rig.pg->Psql(absl::StrCat("INSERT INTO t VALUES (", i, ")")).ok());
    EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), absl::StrCat(i))
        << "after commit " << i;
  }
}

TEST(EnginePostgresE2eTest, RemoteApplyCommitsAreVisibleOnTheStandbyWhenTheyReturn) {
  RemoteApplyRig rig;
  ASSERT_NO_FATAL_FAILURE(StartRemoteApplyRig("walrep_apply", {}, &rig));
  // A session on the standby has the startup process's end-of-WAL line logged, far ahead:
  // under its own pid, so it moves nothing. (The commits after it are seen once the tailer
  // has read past it: lines are taken in file order.)
  ASSERT_TRUE(rig.standby
                  ->Psql("DO $$ BEGIN RAISE LOG 'invalid record length at 7F/0: wanted 24, "
                         "got 0'; END $$")
                  .ok());
  ASSERT_NO_FATAL_FAILURE(CommitAndSeeEach(rig, 30));
  // The server's log (English, walrep's prefix) told most of those positions as replay
  // reached them, without a query.
  auto p = GetProgress(*rig.agent);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GE(p->engine().replay_advances_from_log(), 15u) << p->DebugString();
  EXPECT_LT(p->engine().replay_lsn(), uint64_t{0x7F} << 32) << p->DebugString();
  EXPECT_LE(p->apply_lsn(), p->flush_lsn()) << p->DebugString();
  auto metrics = rig.agent->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, ::testing::HasSubstr("walrep_engine_replay_advances_total{source=\"log\"} "));
}

// Where the server does not log its end-of-WAL lines (log_min_messages = fatal, set on
// the primary and so copied to the standby), the position is read by queries and
// remote_apply commits are still visible on the standby when they return.
TEST(EnginePostgresE2eTest, WithoutTheStartupProcessesLogLinesRemoteApplyFallsBackToQueries) {
  RemoteApplyRig rig;
  ASSERT_NO_FATAL_FAILURE(StartRemoteApplyRig(
      "walrep_quiet",
      {"ALTER SYSTEM SET log_min_messages = 'fatal'", "SELECT pg_reload_conf()"}, &rig));
  ASSERT_NO_FATAL_FAILURE(CommitAndSeeEach(rig, 10));
  auto p = GetProgress(*rig.agent);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->engine().replay_advances_from_log(), 0u) << p->DebugString();
  EXPECT_GE(p->engine().replay_advances_from_query(), 10u) << p->DebugString();
}

}  // namespace
}  // namespace walrep::testing
