// Replay, restart and promotion end to end: the daemon as a process, driven over gRPC,
// against a real PostgreSQL 15 primary. What the primary was told is durable must still be
// there after kill -9 (also as a synchronous standby under pgbench, and while catching up
// on a backlog through O_DIRECT writes); Promote opens
// timeline 2 at the end of the durable WAL, and PostgreSQL's pg_waldump reads the archive
// across the switch; a segment damaged after it was fsynced stops replay and makes
// Promote refuse unless forced; remote_apply commits complete because walrep reports
// what it replayed.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

constexpr uint64_t kSegmentSize = uint64_t{16} << 20;
constexpr uint64_t kPageSize = 8192;
constexpr const char* kAppName = "walrep";

std::string PgBin(const std::string& tool) { return absl::StrCat(PgPrimary::kBinDir, "/", tool); }

grpc::Status StartReplicaWith(AgentProcess& agent, const std::string& conninfo,
                              const std::string& slot) {
  walrep::v1::StartReplicaRequest req;
  req.set_conninfo(conninfo);
  req.set_slot_name(slot);
  req.set_create_slot(!slot.empty());
  req.mutable_status_interval()->set_seconds(1);
  walrep::v1::StartReplicaResponse resp;
  auto ctx = agent.Context(absl::Seconds(20));
  return agent.stub()->StartReplica(ctx.get(), req, &resp);
}

// Streams from `pg` as application_name=walrep (the name synchronous_standby_names uses).
grpc::Status StartReplicaOf(AgentProcess& agent, const PgPrimary& pg, const std::string& slot) {
  return StartReplicaWith(agent, pg.ReplConnInfo(absl::StrCat("application_name=", kAppName)),
                          slot);
}

// pgbench as `postgres` over the Unix socket, killed after `limit` so that a commit that
// never completes fails the test instead of hanging it. Returns stdout and stderr.
std::string RunPgbench(const PgPrimary& pg, const std::string& args,
                       const std::string& pgoptions = "",
                       absl::Duration limit = absl::Seconds(90)) {
  std::string env =
      pgoptions.empty() ? "" : absl::StrCat("env PGOPTIONS=", ShellQuote(pgoptions), " ");
  auto out = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", env, "timeout ",
                                   absl::ToInt64Seconds(limit), " ", PgBin("pgbench"), " -h ",
                                   ShellQuote(pg.socket_dir()), " -p ", pg.port(), " ", args,
                                   " postgres 2>&1"));
  return out.ok() ? *out : std::string(out.status().message());
}

// pgbench's "number of transactions actually processed", -1 when absent.
long ProcessedTransactions(const std::string& pgbench_output) {
  const std::string kKey = "number of transactions actually processed: ";
  size_t at = pgbench_output.find(kKey);
  if (at == std::string::npos) return -1;
  long n = -1;
  std::string digits;
  for (size_t i = at + kKey.size(); i < pgbench_output.size() && isdigit(pgbench_output[i]); ++i) {
    digits += pgbench_output[i];
  }
  if (!absl::SimpleAtoi(digits, &n)) return -1;
  return n;
}

std::optional<Lsn> ParseLsnText(const absl::StatusOr<std::string>& text) {
  if (!text.ok() || text->empty()) return std::nullopt;
  auto lsn = Lsn::Parse(*text);
  if (!lsn.ok()) return std::nullopt;
  return *lsn;
}

// The flush position walrep last reported to the primary (pg_stat_replication), while its
// walsender streams; nullopt when walrep is not connected.
std::optional<Lsn> FlushReportedToPrimary(const PgPrimary& pg) {
  return ParseLsnText(pg.Psql(
      absl::StrCat("SELECT flush_lsn FROM pg_stat_replication WHERE application_name = '", kAppName,
                   "' AND state = 'streaming' ORDER BY backend_start DESC LIMIT 1")));
}

// walrep as the only synchronous standby, commits waiting at `level` (on, remote_apply).
absl::Status MakeWalrepTheSynchronousStandby(const PgPrimary& pg, const std::string& level) {
  for (const std::string& sql :
       {absl::StrCat("ALTER SYSTEM SET synchronous_standby_names = '", kAppName, "'"),
        absl::StrCat("ALTER SYSTEM SET synchronous_commit = ", level),
        std::string("SELECT pg_reload_conf()")}) {
    auto out = pg.Psql(sql);
    if (!out.ok()) return out.status();
  }
  return absl::OkStatus();
}

bool WalrepIsSyncStandby(const PgPrimary& pg) {
  auto s =
      pg.Psql(absl::StrCat("SELECT count(*) FROM pg_stat_replication WHERE application_name = '",
                           kAppName, "' AND state = 'streaming' AND sync_state = 'sync'"));
  return s.ok() && *s != "0";
}

absl::Status StopPrimaryImmediately(const PgPrimary& pg) {
  return RunShell(absl::StrCat("runuser -u postgres -- ", PgBin("pg_ctl"),
                               " stop -w -m immediate -D ", ShellQuote(pg.data_dir()),
                               " >/dev/null"))
      .status();
}

// Waits until the agent's durable flush reaches the server's current flush position.
bool WaitUntilAgentHasAllWal(AgentProcess& agent, const PgPrimary& pg, absl::Duration timeout,
                             Lsn* target_out = nullptr) {
  auto target = ServerFlushLsn(pg);
  if (!target.ok()) return false;
  if (target_out) *target_out = *target;
  return WaitFor(
      [&] {
        auto p = GetProgress(agent);
        return p.ok() && p->flush_lsn() >= target->value();
      },
      timeout);
}

std::string SegmentFileName(uint32_t tli, uint64_t segno) {
  const uint64_t per_log = 0x100000000ull / kSegmentSize;
  return absl::StrFormat("%08X%08X%08X", tli, segno / per_log, segno % per_log);
}

struct ArchiveFile {
  std::string name;
  uint32_t tli = 0;
  uint64_t segno = 0;
  bool partial = false;
};

// Segment files (final and .partial) in a WAL archive directory, by timeline and segment.
std::vector<ArchiveFile> ListSegments(const std::string& dir) {
  std::vector<ArchiveFile> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    bool partial = absl::EndsWith(name, ".partial");
    if (name.size() != (partial ? 32u : 24u)) continue;
    uint32_t tli = 0, log = 0, seg = 0;
    if (!absl::SimpleHexAtoi(name.substr(0, 8), &tli) ||
        !absl::SimpleHexAtoi(name.substr(8, 8), &log) ||
        !absl::SimpleHexAtoi(name.substr(16, 8), &seg)) {
      continue;
    }
    files.push_back({name, tli, uint64_t{log} * (0x100000000ull / kSegmentSize) + seg, partial});
  }
  closedir(d);
  std::sort(files.begin(), files.end(), [](const ArchiveFile& a, const ArchiveFile& b) {
    return std::tie(a.tli, a.segno, a.partial) < std::tie(b.tli, b.segno, b.partial);
  });
  return files;
}

// One record line of pg_waldump's output.
struct WaldumpRecord {
  Lsn lsn;
  uint32_t tot_len = 0;
  std::string line;
};

std::vector<WaldumpRecord> ParseWaldumpRecords(const std::string& out) {
  std::vector<WaldumpRecord> records;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (!absl::StartsWith(line, "rmgr: ")) continue;
    // rmgr: Heap  len (rec/tot):  59/  59, tx:  735, lsn: 0/0300A028, prev 0/0300A000, desc: ..
    size_t len_at = line.find("len (rec/tot):");
    size_t lsn_at = line.find("lsn: ");
    if (len_at == absl::string_view::npos || lsn_at == absl::string_view::npos) continue;
    absl::string_view lens = line.substr(len_at + 14);
    lens = lens.substr(0, lens.find(','));
    std::vector<absl::string_view> parts = absl::StrSplit(lens, '/');
    absl::string_view lsn_text = line.substr(lsn_at + 5);
    lsn_text = lsn_text.substr(0, lsn_text.find(','));
    WaldumpRecord r;
    auto lsn = Lsn::Parse(absl::StripAsciiWhitespace(lsn_text));
    if (parts.size() != 2 || !lsn.ok() ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[1]), &r.tot_len)) {
      continue;
    }
    r.lsn = *lsn;
    r.line = std::string(line);
    records.push_back(std::move(r));
  }
  return records;
}

// Where a record of `tot_len` bytes starting at `lsn` ends, MAXALIGNed: its bytes skip the
// page headers of the pages it continues onto (the long one at a segment start).
Lsn RecordEnd(Lsn lsn, uint32_t tot_len) {
  uint64_t pos = lsn.value();
  uint64_t left = tot_len;
  while (left > 0) {
    if (pos % kPageSize == 0) pos += pos % kSegmentSize == 0 ? 40 : 24;
    uint64_t n = std::min<uint64_t>(left, kPageSize - pos % kPageSize);
    pos += n;
    left -= n;
  }
  return Lsn((pos + 7) & ~uint64_t{7});
}

absl::Status FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  if (!f) return absl::OutOfRangeError(absl::StrCat(path, " has no byte ", offset));
  c = static_cast<char>(c ^ 0x5A);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  f.flush();
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

TEST(ReplayE2eTest, RestartAfterKillNineThenPromoteWithThePrimaryDownLosesNothing) {
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

TEST(ReplayE2eTest, KillNineTenTimesUnderPgbenchAsSynchronousStandby) {
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
  ASSERT_TRUE(WaitUntilAgentHasAllWal(**agent, **pg, absl::Seconds(60), &target))
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
TEST(ReplayE2eTest, KillNineWhileCatchingUpKeepsWhatThePrimaryWasTold) {
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
  ASSERT_TRUE(WaitUntilAgentHasAllWal(**agent, **pg, absl::Seconds(120), &target))
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
  ASSERT_TRUE(WaitUntilAgentHasAllWal(**agent, **pg, absl::Seconds(60)));
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
  st = StartReplicaWith(
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
