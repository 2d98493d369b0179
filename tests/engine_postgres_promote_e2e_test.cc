// Engine postgres: Promote when the standby's replay cannot reach the durable WAL in time.
// Through the daemon and its gRPC API against a real PostgreSQL 15 primary, with the
// standby's startup process stopped (SIGSTOP) so that what walrep flushed stays
// unreplayed: Promote with a short apply_timeout is DEADLINE_EXCEEDED and changes nothing
// (still a replica following its primary, the server still recovering, nothing
// promoted); once replay resumes,
// the same Promote succeeds with every acknowledged row on the new primary. Promote while
// the standby's postgres restarts after a crash, or while it dies under the request,
// waits for it. And the whole
// replica node lost (agent and standby kill -9) together with its synchronous primary:
// the restarted agent starts the standby again and Promote keeps every reported commit.
#include <signal.h>

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/engine_e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

// The pid of the standby's startup process (the one child of the postmaster whose title
// says "startup"), 0 when not found.
int StartupPid(const std::string& postmaster_pid) {
  auto out = RunShell("pgrep -P " + postmaster_pid + " -f 'postgres: .*startup'; true");
  if (!out.ok()) return 0;
  int pid = 0;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &pid) ? pid : 0;
}

// Continues a stopped process when the test is done with it, or when it ends (an assertion
// must not leave the standby's startup process stopped).
struct Resumer {
  int pid;
  bool done = false;
  void Now() {
    if (!done) kill(pid, SIGCONT);
    done = true;
  }
  ~Resumer() { Now(); }
};

// 1000 more rows replayed on the standby, then the primary stopped (a planned stop: its
// shutdown checkpoint streams before it goes) — where a failover to this replica begins.
void ReplayMoreThenStopThePrimary(EngineRig& rig) {
  ASSERT_TRUE(rig.pg->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  ASSERT_TRUE(Replayed(*rig.agent, *rig.pg, absl::Seconds(60))) << rig.agent->ReadLog();
  ASSERT_TRUE(rig.pg->Stop().ok());
}

TEST(EnginePostgresPromoteE2eTest, ReplayThatCannotCatchUpIsDeadlineExceededAndChangesNothing) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUp("engine-promote"));

  const int startup = StartupPid(rig.standby->PidFileLine1());
  ASSERT_GT(startup, 0);
  ASSERT_EQ(kill(startup, SIGSTOP), 0);
  Resumer resume{startup};

  // WAL walrep has flushed (and told the primary about) but the standby has not replayed.
  ASSERT_TRUE(rig.pg->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  auto target = ServerFlushLsn(*rig.pg);
  ASSERT_TRUE(target.ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->flush_lsn() >= target->value();
  }, absl::Seconds(30)));

  // Asked while the primary is still up (an orchestrator acting on a network blip):
  // refused, and the replica goes on following it — new WAL is received and flushed.
  walrep::v1::PromoteResponse early;
  grpc::Status refused = CallPromote(*rig.agent, absl::Seconds(1), /*force=*/false, &early);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << refused.error_message();
  ASSERT_TRUE(rig.pg->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  target = ServerFlushLsn(*rig.pg);
  ASSERT_TRUE(target.ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING &&
           p->flush_lsn() >= target->value() && p->role() == walrep::v1::ROLE_REPLICA;
  }, absl::Seconds(30))) << rig.agent->ReadLog();
  // The failover: the primary is gone (its shutdown checkpoint streamed before it went).
  ASSERT_TRUE(rig.pg->Stop().ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->stream_state() != walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(30)));
  auto behind = GetProgress(*rig.agent);
  ASSERT_TRUE(behind.ok());
  ASSERT_LT(behind->apply_lsn(), behind->flush_lsn());

  walrep::v1::PromoteResponse resp;
  const absl::Time asked = absl::Now();
  grpc::Status st = CallPromote(*rig.agent, absl::Seconds(2), /*force=*/false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_LT(absl::Now() - asked, absl::Seconds(10));
  EXPECT_NE(st.error_message().find("apply"), std::string::npos) << st.error_message();
  auto after = GetProgress(*rig.agent);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_EQ(after->engine().state(), walrep::v1::ENGINE_STATE_RECOVERING);
  EXPECT_EQ(after->flush_lsn(), behind->flush_lsn()) << "the durable position did not move";
  EXPECT_FALSE(RunShell("ls " + ShellQuote(rig.data_dir + "/pgdata/pg_wal") + " | grep -q '^00000002'")
                   .ok())
      << "no timeline 2 was started";

  // Replay resumes: the same Promote now succeeds with every row the primary committed.
  resume.Now();
  ASSERT_TRUE(CallPromote(*rig.agent, absl::Seconds(60), /*force=*/false, &resp).ok()) << rig.agent->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_GE(resp.switch_lsn(), target->value());
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_EQ(*rig.standby->Psql("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), "3000");
}

// The failover finds the replica's own server down: its primary is gone and the standby
// postgres has just crashed (kill -9 of its postmaster), so Promote arrives while the
// supervisor is restarting it. Promote waits, within apply_timeout, for a running standby
// that has replayed the durable WAL, then promotes it: every row the primary committed
// is there, on timeline 2. And with too short an apply_timeout for the restart, the
// refusal is DEADLINE_EXCEEDED naming the server's state, and changes nothing.
TEST(EnginePostgresPromoteE2eTest, PromoteWhileTheStandbyRestartsAfterACrashWaitsForItAndKeepsEveryRow) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUp("engine-promote-crashed"));
  ASSERT_NO_FATAL_FAILURE(ReplayMoreThenStopThePrimary(rig));
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->stream_state() != walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(30)));

  // Too short for a restart: refused, the replica left as it was.
  std::string pid = rig.standby->PidFileLine1();
  ASSERT_FALSE(pid.empty());
  ASSERT_TRUE(RunShell("kill -9 " + pid).ok());
  // Seen down (the supervisor waits at least 250 ms before it starts it again).
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->engine().state() != walrep::v1::ENGINE_STATE_RECOVERING;
  }, absl::Seconds(10)));
  walrep::v1::PromoteResponse resp;
  grpc::Status refused = CallPromote(*rig.agent, absl::Milliseconds(1), /*force=*/false, &resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "not a running standby"))
      << refused.error_message();
  auto after = GetProgress(*rig.agent);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_NE(after->stream_state(), walrep::v1::STREAM_STATE_STOPPED) << "it follows its primary again";
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(*rig.agent);
    return p.ok() && p->engine().restarts() >= 1 &&
           p->engine().state() == walrep::v1::ENGINE_STATE_RECOVERING;
  }, absl::Seconds(60))) << rig.agent->ReadLog();

  // Crashed again, and Promote at once — before or after the supervisor has seen the
  // crash, even while it makes the request: it promotes the restarted standby.
  pid = rig.standby->PidFileLine1();
  ASSERT_FALSE(pid.empty());
  ASSERT_TRUE(RunShell("kill -9 " + pid).ok());
  grpc::Status st = CallPromote(*rig.agent, absl::Seconds(60), /*force=*/false, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << rig.agent->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_GE(resp.progress().engine().restarts(), 2u);
  EXPECT_EQ(*rig.standby->Psql("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), "2000");
  EXPECT_TRUE(rig.standby->Psql("INSERT INTO t VALUES (0)").ok());
}

// The standby dies under the promotion request itself: its startup process is stopped
// (SIGSTOP), so `pg_ctl promote -w` waits, and the postmaster is killed (-9) while it
// does. The supervisor restarts the standby and asks again: Promote returns a primary on
// timeline 2 with every row.
TEST(EnginePostgresPromoteE2eTest, AStandbyThatDiesWhilePromotedIsPromotedOnceRestarted) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUp("engine-promote-dies"));
  ASSERT_NO_FATAL_FAILURE(ReplayMoreThenStopThePrimary(rig));
  const std::string postmaster = rig.standby->PidFileLine1();
  const int startup = StartupPid(postmaster);
  ASSERT_GT(startup, 0);
  ASSERT_EQ(kill(startup, SIGSTOP), 0);
  Resumer resume{startup};

  walrep::v1::PromoteResponse resp;
  grpc::Status st;
  std::thread promote([&] { st = CallPromote(*rig.agent, absl::Seconds(60), false, &resp); });
  // pg_ctl promote has asked (its signal file is there) and waits for the stopped process.
  const std::string promote_file = rig.data_dir + "/pgdata/promote";
  const bool asked = WaitFor([&] { return RunShell("test -e " + ShellQuote(promote_file)).ok(); },
                             absl::Seconds(30));
  ASSERT_TRUE(RunShell("kill -9 " + postmaster + " " + std::to_string(startup)).ok());
  resume.done = true;  // killed: nothing to continue
  promote.join();
  ASSERT_TRUE(asked) << rig.agent->ReadLog();
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << rig.agent->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_GE(resp.progress().engine().restarts(), 1u);
  EXPECT_NE(absl::StrCat(resp.progress().engine().pid()), postmaster);
  EXPECT_EQ(*rig.standby->Psql("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(*rig.standby->Psql("SELECT count(*) FROM t"), "2000");
  // It was asked twice: the first request ended with the server.
  EXPECT_TRUE(absl::StrContains(rig.agent->ReadLog(), "exited while being promoted"))
      << rig.agent->ReadLog();
}

// The replica's node dies — the agent and every process of its standby, kill -9 — while
// walrep is the primary's synchronous standby under a stream of commits, and the primary
// dies right after (-m immediate). A new agent on the node finds no server running (a
// postmaster.pid naming a dead process), starts the standby (crash recovery of pgdata,
// then recovery of the WAL walrep made durable), and, with no primary to stream from,
// Promote makes it a primary holding every commit the old primary reported.
TEST(EnginePostgresPromoteE2eTest, AfterTheNodeAndItsPrimaryDiePromoteOnTheNewAgentKeepsEveryCommit) {
  EngineRig rig;
  ASSERT_NO_FATAL_FAILURE(rig.SetUpUnderSyncCommits("engine-node-loss", "walrep_node"));

  // What the primary was told last before the node went (it can only have been told more).
  auto told = rig.pg->Psql(
      "SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'walrep_node'");
  ASSERT_TRUE(told.ok());
  auto told_lsn = Lsn::Parse(*told);
  ASSERT_TRUE(told_lsn.ok()) << *told;
  const std::string postmaster = rig.standby->PidFileLine1();
  ASSERT_FALSE(postmaster.empty());
  rig.agent->Kill();
  // kill -9 reports a failure when a pid pgrep listed has exited in between (the backend
  // of the agent's own connection ends as the agent's socket closes): the postmaster's
  // death is what is checked, below.
  (void)RunShell("kill -9 " + postmaster + " $(pgrep -P " + postmaster + ") 2>/dev/null");
  ASSERT_NO_FATAL_FAILURE(rig.KillPrimary());
  ASSERT_TRUE(WaitFor([&] { return CommitLoopEnded(rig.committed); }, absl::Seconds(30)));
  const int reported = CommittedCount(rig.committed);
  ASSERT_TRUE(WaitFor([&] { return !RunShell("kill -0 " + postmaster + " 2>/dev/null").ok(); },
                      absl::Seconds(30)));

  auto agent = AgentProcess::Start({.data_dir = rig.data_dir, .extra_flags = EngineFlags(rig.port)});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->engine().state() == walrep::v1::ENGINE_STATE_RECOVERING;
  }, absl::Seconds(60))) << (*agent)->ReadLog();
  auto restarted = GetProgress(**agent);
  ASSERT_TRUE(restarted.ok());
  EXPECT_NE(absl::StrCat(restarted->engine().pid()), postmaster);
  EXPECT_EQ(restarted->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_NE(restarted->stream_state(), walrep::v1::STREAM_STATE_STREAMING);  // no primary
  EXPECT_GE(restarted->flush_lsn(), told_lsn->value());

  walrep::v1::PromoteResponse resp;
  grpc::Status promoted = CallPromote(**agent, absl::Seconds(60), /*force=*/false, &resp);
  ASSERT_TRUE(promoted.ok()) << promoted.error_message() << (*agent)->ReadLog();
  EXPECT_EQ(resp.timeline(), 2u);
  EXPECT_GE(resp.switch_lsn(), told_lsn->value());
  auto after = GetProgress(**agent);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->role(), walrep::v1::ROLE_PRIMARY);
  EXPECT_EQ(after->timeline(), 2u);
  // The server writes timeline 2 (its checkpoint may still be timeline 1's: promotion
  // does not wait for one).
  EXPECT_EQ(*rig.standby->Psql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"),
            "00000002");
  EXPECT_EQ(*rig.standby->Psql(MissingCommitsQuery(reported)), "0")
      << "of " << reported << " reported commits";
  EXPECT_EQ(*rig.standby->Psql("INSERT INTO k VALUES (-1)"), "");
}

}  // namespace
}  // namespace walrep::testing
