// How the stream ends or survives what retrying can and cannot fix, against real
// PostgreSQL 15 through the daemon's gRPC API: WAL already removed on the primary and a
// missing slot are terminal (STREAM_STATE_FAILED with the reason, within one attempt) and
// a new StartReplica after the fix streams again; a partition (a proxy that black-holes
// traffic without closing) is detected by receiver_timeout and survived; a primary with
// 64 MiB segments is archived in 64 MiB segments that pg_waldump reads.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/tcp_proxy.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

// The end of the agent's log, for failure messages.
std::string LogTail(const AgentProcess& agent) {
  auto tail = RunShell("tail -n 25 " + ShellQuote(agent.log_path()));
  return tail.ok() ? *tail : std::string(tail.status().message());
}

bool InState(AgentProcess& agent, walrep::v1::StreamState state, Progress* out = nullptr) {
  auto p = GetProgress(agent);
  if (!p.ok() || p->stream_state() != state) return false;
  if (out) *out = *p;
  return true;
}

TEST(StreamFailureE2eTest, WalRemovedOnThePrimaryFailsWithinOneAttemptAndSaysWhatToDo) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("wal-removed");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo()).ok());  // no slot
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));
  {
    walrep::v1::StopReplicaResponse resp;
    auto ctx = (*agent)->Context();
    ASSERT_TRUE((*agent)->stub()->StopReplica(ctx.get(), {}, &resp).ok());
  }
  auto needed = (*pg)->Psql(absl::StrCat("SELECT pg_walfile_name('",
                                         Lsn(AgentFlush(**agent)).ToString(), "')"));
  ASSERT_TRUE(needed.ok());
  // Without a slot nothing holds WAL for walrep: a few segment switches and checkpoints
  // later, the segment it needs next is gone.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
    ASSERT_TRUE((*pg)->Psql("SELECT pg_switch_wal()").ok());
    ASSERT_TRUE((*pg)->Psql("CHECKPOINT").ok());
  }
  auto still_there = (*pg)->Psql(
      absl::StrCat("SELECT count(*) FROM pg_ls_waldir() WHERE name = '", *needed, "'"));
  ASSERT_TRUE(still_there.ok());
  ASSERT_EQ(*still_there, "0") << *needed << " was not removed; the test cannot run";

  auto before = GetProgress(**agent);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo()).ok());
  Progress failed;
  ASSERT_TRUE(WaitFor([&] { return InState(**agent, walrep::v1::STREAM_STATE_FAILED, &failed); },
                      absl::Seconds(20)))
      << LogTail(**agent);
  EXPECT_EQ(failed.failure_reason(), walrep::v1::FAILURE_REASON_WAL_REMOVED_ON_PRIMARY);
  EXPECT_NE(failed.last_error().find("already removed"), std::string::npos) << failed.last_error();
  EXPECT_NE(failed.last_error().find("base backup"), std::string::npos) << failed.last_error();
  // One attempt, not a backoff loop: the stream has no thread left to retry with.
  EXPECT_EQ(failed.metrics().sessions_started(), before->metrics().sessions_started() + 1);
  EXPECT_EQ(failed.metrics().reconnects(), before->metrics().reconnects());
  // GetProgress again: still FAILED, nothing retried in between.
  auto later = GetProgress(**agent);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->stream_state(), walrep::v1::STREAM_STATE_FAILED);
  EXPECT_EQ(later->metrics().sessions_started(), failed.metrics().sessions_started());
  // StopReplica turns the failed stream into a stopped one.
  walrep::v1::StopReplicaResponse stopped;
  auto ctx = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->StopReplica(ctx.get(), {}, &stopped).ok());
  EXPECT_EQ(stopped.progress().stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  EXPECT_EQ(stopped.progress().failure_reason(), walrep::v1::FAILURE_REASON_UNSPECIFIED);
}

TEST(StreamFailureE2eTest, AMissingSlotIsTerminalUntilItExistsThenTheSameRequestStreams) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("slot-missing")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto no_create = [](walrep::v1::StartReplicaRequest* r) { r->set_create_slot(false); };
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo(), "not_there", nullptr, no_create).ok());
  Progress failed;
  ASSERT_TRUE(WaitFor([&] { return InState(**agent, walrep::v1::STREAM_STATE_FAILED, &failed); },
                      absl::Seconds(20)));
  EXPECT_EQ(failed.failure_reason(), walrep::v1::FAILURE_REASON_SLOT_MISSING);
  EXPECT_NE(failed.last_error().find("pg_create_physical_replication_slot('not_there'"),
            std::string::npos) << failed.last_error();
  // Promote here is refused (nothing received) and changes nothing: still failed, for
  // the same reason, with the same advice.
  walrep::v1::PromoteResponse promoted;
  grpc::Status refused = CallPromote(**agent, absl::Seconds(1), /*force=*/false, &promoted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  Progress after;
  ASSERT_TRUE(InState(**agent, walrep::v1::STREAM_STATE_FAILED, &after));
  EXPECT_EQ(after.failure_reason(), walrep::v1::FAILURE_REASON_SLOT_MISSING);
  EXPECT_EQ(after.last_error(), failed.last_error());
  EXPECT_EQ(after.role(), walrep::v1::ROLE_REPLICA);

  ASSERT_TRUE((*pg)->Psql("SELECT pg_create_physical_replication_slot('not_there', true)").ok());
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo(), "not_there", nullptr, no_create).ok());
  ASSERT_TRUE(WaitFor([&] { return InState(**agent, walrep::v1::STREAM_STATE_STREAMING); },
                      absl::Seconds(20)));
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x").ok());
  EXPECT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->failure_reason(), walrep::v1::FAILURE_REASON_UNSPECIFIED);
  EXPECT_EQ(p->last_error(), "");
  auto active = (*pg)->Psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'not_there'");
  EXPECT_EQ(*active, "t");
}

TEST(StreamFailureE2eTest, APartitionIsDetectedByReceiverTimeoutAndSurvived) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto proxy = TcpProxy::Start("127.0.0.1", (*pg)->port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::string data_dir = FreshTestDir("partition");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", (*proxy)->port(), " user=",
                                            PgPrimary::kReplUser, " password=",
                                            PgPrimary::kReplPassword, " sslmode=disable");
  auto timeout5s = [](walrep::v1::StartReplicaRequest* r) {
    r->mutable_receiver_timeout()->set_seconds(5);
  };
  ASSERT_TRUE(StartReplica(**agent, conninfo, "", nullptr, timeout5s).ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(30)));
  ASSERT_TRUE(InState(**agent, walrep::v1::STREAM_STATE_STREAMING));

  (*proxy)->SetBlackHole(true);
  const absl::Time cut = absl::Now();
  Progress left;
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    if (!p.ok() || p->stream_state() == walrep::v1::STREAM_STATE_STREAMING) return false;
    left = *p;
    return true;
  }, absl::Seconds(30)));
  const absl::Duration detected = absl::Now() - cut;
  // On the idle link walrep asks for a reply after 2.5 s of silence and the primary
  // answers, so the last message came at most 2.5 s before the cut; with nothing passing,
  // the session is given up 5 s after it (plus the loop's 100 ms wake-ups and polling).
  EXPECT_GE(detected, absl::Seconds(2));
  EXPECT_LE(detected, absl::Seconds(8));
  EXPECT_NE(left.last_error().find("receiver_timeout"), std::string::npos) << left.last_error();
  EXPECT_NE(left.stream_state(), walrep::v1::STREAM_STATE_FAILED);  // retried, not terminal

  (*proxy)->SetBlackHole(false);
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 1000)").ok());
  Lsn target;
  EXPECT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60), &target));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  EXPECT_GE((*proxy)->accepted(), 2);
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_GE(cmp.partial_checked, 1);
}

TEST(StreamFailureE2eTest, SixtyFourMiBSegmentsAreArchivedAsSuchAndPgWaldumpReadsThem) {
  auto pg = PgPrimary::Start({.wal_segsize_mb = 64});
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_EQ(*(*pg)->Psql("SHOW wal_segment_size"), "64MB");
  std::string data_dir = FreshTestDir("segsize64");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartReplica(**agent, (*pg)->ReplConnInfo(), "walrep_seg64").ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 20000) AS x").ok());
  // A segment switch completes a 64 MiB segment; more WAL goes into the next.
  ASSERT_TRUE((*pg)->Psql("SELECT pg_switch_wal()").ok());
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 20000)").ok());
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  const Lsn flush(p->flush_lsn());
  constexpr uint64_t kSeg = 64ull << 20;
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                           flush, kSeg);
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_GE(cmp.complete_identical, 1);
  EXPECT_EQ(cmp.partial_checked, 1);
  // Every file is a 64 MiB segment, named in 64 MiB segment numbers.
  auto sizes = RunShell(absl::StrCat("cd ", ShellQuote(data_dir + "/wal"),
                                     " && stat -c '%s' 0000000100000000000000* | sort -u"));
  ASSERT_TRUE(sizes.ok());
  EXPECT_EQ(*sizes, absl::StrCat(kSeg, "\n"));
  // PostgreSQL's reader agrees over the complete segment (it does not open ".partial").
  const Lsn partial_start(flush.value() / kSeg * kSeg);
  const Lsn first(partial_start.value() - kSeg);
  auto dump = RunShell(absl::StrCat(
      "out=$(", PgPrimary::kBinDir, "/pg_waldump -p ", ShellQuote(data_dir + "/wal"), " -s ",
      first.ToString(), " -e ", partial_start.ToString(), " 2>&1); rc=$?; ",
      "echo \"rc=$rc records=$(echo \"$out\" | grep -c 'rmgr: ')\"; echo \"$out\" | grep error; true"));
  ASSERT_TRUE(dump.ok());
  EXPECT_EQ(dump->find("error"), std::string::npos) << *dump;
  EXPECT_EQ(dump->substr(0, 5), "rc=0 ") << *dump;
  EXPECT_EQ(dump->find("records=0\n"), std::string::npos) << *dump;
}

}  // namespace
}  // namespace walrep::testing
