// Restart after kill -9 end to end: the daemon as a process, driven over gRPC, against a
// real PostgreSQL 15 primary. What the primary was told is durable must still be there
// after kill -9 — with the primary then down and Promote opening timeline 2 at the end of
// the durable WAL (pg_waldump reads the archive across the switch), as a synchronous
// standby under pgbench ten times over, and while catching up on a backlog through
// O_DIRECT writes.
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
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

TEST(ReplayKillE2eTest, RestartAfterKillNineThenPromoteWithThePrimaryDownLosesNothing) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string data_dir = FreshTestDir("replay_promote_down");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartReplicaOf(**agent, **pg, "walrep_replay");
  ASSERT_TRUE(st.ok()) << st.error_message();

  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 300000) AS x").ok());
  auto written = ServerFlushLsn(**pg);
  ASSERT_TRUE(written.ok()) << written.status();
  Lsn told;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto f = FlushReportedToPrimary(**pg);
        if (f) told = *f;
        return f && *f >= *written;
      },
      absl::Seconds(60)))
      << "the primary was told " << told.ToString() << ", wrote up to " << written->ToString();
  std::optional<Lsn> restart_lsn = ParseLsnText((*pg)->Psql(
      "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'walrep_replay'"));
  ASSERT_TRUE(restart_lsn.has_value());

  (*agent)->Kill();
  ASSERT_TRUE(StopPrimaryImmediately(**pg).ok());
  agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto before = GetProgress(**agent);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_GE(before->flush_lsn(), told.value())
      << "recovered flush " << Lsn(before->flush_lsn()).ToString()
      << " is below what the primary was told: " << told.ToString();
  EXPECT_GE(before->flush_lsn(), restart_lsn->value())
      << "recovered flush " << Lsn(before->flush_lsn()).ToString()
      << " is below the slot's restart_lsn " << restart_lsn->ToString();

  walrep::v1::PromoteResponse promoted;
  st = CallPromote(**agent, absl::Seconds(30), /*force=*/false, &promoted);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << (*agent)->ReadLog();
  const Lsn switch_lsn(promoted.switch_lsn());
  EXPECT_EQ(promoted.timeline(), 2u);
  EXPECT_EQ(switch_lsn.value(), before->flush_lsn())
      << "switch " << switch_lsn.ToString() << ", durable flush "
      << Lsn(before->flush_lsn()).ToString();
  EXPECT_GE(switch_lsn, told);
  EXPECT_EQ(promoted.progress().role(), walrep::v1::ROLE_PRIMARY);

  const std::string wal_dir = data_dir + "/wal";
  auto history = RunShell("cat " + ShellQuote(wal_dir + "/00000002.history"));
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(*history, absl::StrCat("1\t", switch_lsn.ToString(), "\tpromoted by walrep\n"));

  // pg_waldump follows one timeline by file name: timeline 1's complete segments appear
  // under timeline 2's names (links), then the new timeline's first segment, which holds
  // timeline 1's bytes up to the switch point, under its final name.
  const std::string scratch = FreshTestDir("replay_promote_down_waldump");
  ASSERT_EQ(mkdir(scratch.c_str(), 0755), 0);
  const uint64_t switch_seg = switch_lsn.value() / kSegmentSize;
  bool have_previous = false;
  for (const ArchiveFile& f : ListSegments(wal_dir)) {
    if (f.tli != 1 || f.partial || f.segno >= switch_seg) continue;
    const std::string link = scratch + "/" + SegmentFileName(2, f.segno);
    ASSERT_EQ(symlink((wal_dir + "/" + f.name).c_str(), link.c_str()), 0) << link;
    have_previous |= f.segno + 1 == switch_seg;
  }
  ASSERT_TRUE(have_previous) << "300k rows fill more than one segment";
  const std::string new_first = SegmentFileName(2, switch_seg);
  ASSERT_TRUE(RunShell(absl::StrCat("cp ", ShellQuote(wal_dir + "/" + new_first + ".partial"), " ",
                                    ShellQuote(scratch + "/" + new_first)))
                  .ok());
  const Lsn dump_start((switch_seg - 1) * kSegmentSize);
  auto dump = RunShell(absl::StrCat(PgBin("pg_waldump"), " -p ", ShellQuote(scratch), " -t 2 -s ",
                                    dump_start.ToString(), " -e ", switch_lsn.ToString()));
  ASSERT_TRUE(dump.ok()) << dump.status();
  std::vector<WaldumpRecord> records = ParseWaldumpRecords(*dump);
  ASSERT_FALSE(records.empty()) << *dump;
  EXPECT_LT(records.front().lsn.value(), switch_seg * kSegmentSize)
      << "pg_waldump began in timeline 1's segment: " << records.front().line;
  const WaldumpRecord& last = records.back();
  EXPECT_EQ(RecordEnd(last.lsn, last.tot_len), switch_lsn)
      << "the last record pg_waldump read before the switch point: " << last.line;

  // Again: the same answer.
  walrep::v1::PromoteResponse again;
  st = CallPromote(**agent, absl::Seconds(30), /*force=*/false, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.timeline(), 2u);
  EXPECT_EQ(again.switch_lsn(), promoted.switch_lsn());
}

TEST(ReplayKillE2eTest, KillNineTenTimesUnderPgbenchAsSynchronousStandby) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string data_dir = FreshTestDir("replay_kill9_sync");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartReplicaOf(**agent, **pg, "walrep_kill9");
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(MakeWalrepTheSynchronousStandby(**pg, "on").ok());
  ASSERT_TRUE(WaitFor([&] { return WalrepIsSyncStandby(**pg); }, absl::Seconds(20)));
  std::string init = RunPgbench(**pg, "-i -s 2 -q");
  ASSERT_NE(init.find("done"), std::string::npos) << init;

  absl::BitGen gen;
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    ASSERT_TRUE(WaitFor([&] { return WalrepIsSyncStandby(**pg); }, absl::Seconds(30)))
        << (*agent)->ReadLog();
    std::string bench;
    absl::Time bench_start = absl::Now();
    std::thread writer([&] { bench = RunPgbench(**pg, "-T 4 -c 2 -N", "", absl::Seconds(60)); });
    absl::SleepFor(absl::Milliseconds(absl::Uniform(gen, 300, 2500)));  // the fault's moment
    std::optional<Lsn> told = FlushReportedToPrimary(**pg);
    (*agent)->Kill();
    agent = AgentProcess::Start({.data_dir = data_dir});  // no RPC: it resumes by itself
    if (!agent.ok()) {
      writer.join();
      FAIL() << agent.status();
    }
    auto after = GetProgress(**agent);  // first thing, before it could stream much more
    EXPECT_TRUE(told.has_value()) << "walrep was not streaming when it was killed";
    EXPECT_TRUE(after.ok()) << after.status();
    if (told && after.ok()) {
      EXPECT_GE(after->flush_lsn(), told->value())
          << "flush after restart " << Lsn(after->flush_lsn()).ToString() << " is below "
          << told->ToString() << ", which the primary was already told";
    }
    writer.join();
    // Commits stalled while walrep was down and went on once it was back.
    EXPECT_NE(bench.find("number of failed transactions: 0"), std::string::npos) << bench;
    EXPECT_GT(ProcessedTransactions(bench), 0) << bench;
    EXPECT_LT(absl::Now() - bench_start, absl::Seconds(30)) << bench;
  }

  Lsn target;
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(60), &target))
      << "primary at " << target.ToString();
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  EXPECT_EQ(progress->last_error(), "");
  const std::string wal_dir = data_dir + "/wal";
  WalComparison cmp =
      CompareWithServerWal(wal_dir, (*pg)->data_dir() + "/pg_wal", Lsn(progress->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_EQ(cmp.partial_checked, 1);
  // No gap: every segment from the first one present to the one being written, each
  // compared (the slot kept them all on the primary).
  std::vector<ArchiveFile> files = ListSegments(wal_dir);
  ASSERT_FALSE(files.empty());
  int complete = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].tli, 1u) << files[i].name;
    EXPECT_EQ(files[i].segno, files[0].segno + i) << files[i].name << " after a gap";
    EXPECT_EQ(files[i].partial, i + 1 == files.size()) << files[i].name;
    if (!files[i].partial) ++complete;
  }
  EXPECT_EQ(cmp.complete_identical, complete);
  EXPECT_GE(complete, 2) << "pgbench -s 2 and ten runs write several segments";
}

// Catching up on a backlog, WAL reaches the files by O_DIRECT writes of a stage the
// writer's own thread hands over (replay/segment_stage.h). kill -9 in the middle of that,
// twice: each restart reports at least what the primary was told, and in the end every
// segment equals the primary's, with no gap.
TEST(ReplayKillE2eTest, KillNineWhileCatchingUpKeepsWhatThePrimaryWasTold) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  // The slot reserves WAL before the backlog is written, so the whole range is streamed.
  ASSERT_TRUE((*pg)->Psql("SELECT pg_create_physical_replication_slot('walrep_catchup', true)").ok());
  const std::string init = RunPgbench(**pg, "-i -s 20 -q");
  ASSERT_NE(init.find("done"), std::string::npos) << init;
  auto backlog_end = ServerFlushLsn(**pg);
  ASSERT_TRUE(backlog_end.ok()) << backlog_end.status();
  const std::string data_dir = FreshTestDir("replay_kill9_catchup");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartReplica(**agent, (*pg)->ReplConnInfo(absl::StrCat("application_name=", kAppName)),
                                 "", nullptr, [](walrep::v1::StartReplicaRequest* req) {
                                   req->set_slot_name("walrep_catchup");
                                 });
  ASSERT_TRUE(st.ok()) << st.error_message();
  int kills = 0;
  for (double fraction : {0.25, 0.5}) {
    SCOPED_TRACE(absl::StrCat("kill at ", fraction, " of the backlog"));
    std::optional<Lsn> told;
    // Until the flush passes `fraction` of the backlog (it starts near 0/0 with a new
    // cluster's WAL), with flush reports reaching the primary.
    const uint64_t mark = static_cast<uint64_t>(static_cast<double>(backlog_end->value()) * fraction);
    ASSERT_TRUE(WaitFor(
        [&] {
          auto p = GetProgress(**agent);
          return p.ok() && p->flush_lsn() >= mark;
        },
        absl::Seconds(120)))
        << (*agent)->ReadLog();
    // Its walsender is in state 'catchup' until it reaches the primary's end of WAL.
    told = ParseLsnText((*pg)->Psql(absl::StrCat(
        "SELECT flush_lsn FROM pg_stat_replication WHERE application_name = '", kAppName,
        "' AND state IN ('catchup', 'streaming') ORDER BY backend_start DESC LIMIT 1")));
    const Lsn before_kill = AgentFlush(**agent);
    (*agent)->Kill();
    // Not a catch-up any more if it got to the end first: the path is not exercised.
    ASSERT_LT(before_kill, *backlog_end) << "the backlog was streamed before the kill";
    ++kills;
    agent = AgentProcess::Start({.data_dir = data_dir});  // resumes by itself
    ASSERT_TRUE(agent.ok()) << agent.status();
    auto after = GetProgress(**agent);
    ASSERT_TRUE(after.ok()) << after.status();
    ASSERT_TRUE(told.has_value()) << "walrep was not streaming when it was killed";
    EXPECT_GE(after->flush_lsn(), told->value())
        << "flush after restart " << Lsn(after->flush_lsn()).ToString() << " is below "
        << told->ToString() << ", which the primary was already told";
  }
  EXPECT_EQ(kills, 2);
  Lsn target;
  ASSERT_TRUE(CaughtUp(**agent, **pg, absl::Seconds(120), &target))
      << "primary at " << target.ToString() << "\n" << (*agent)->ReadLog();
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->last_error(), "");
  const std::string wal_dir = data_dir + "/wal";
  WalComparison cmp =
      CompareWithServerWal(wal_dir, (*pg)->data_dir() + "/pg_wal", Lsn(progress->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  std::vector<ArchiveFile> files = ListSegments(wal_dir);
  ASSERT_FALSE(files.empty());
  int complete = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].segno, files[0].segno + i) << files[i].name << " after a gap";
    EXPECT_EQ(files[i].partial, i + 1 == files.size()) << files[i].name;
    if (!files[i].partial) ++complete;
  }
  EXPECT_EQ(cmp.complete_identical, complete);
  EXPECT_GE(complete, 10) << "pgbench -s 20 writes a few hundred MiB of WAL";
}

}  // namespace
}  // namespace walrep::testing
