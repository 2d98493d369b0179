// StartReplica with bootstrap on a fresh data directory: the agent takes a base backup
// into <data_dir>/pgdata first (BOOTSTRAPPING), copies the copy's WAL into its archive and
// streams on from its end, so the copy plus the WAL archive (from the backup's start on)
// form a complete, verifiable backup.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

TEST(BootstrapE2eTest, BacksUpThenStreamsFromTheBackupStart) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE b AS SELECT generate_series(1, 100000) AS x").ok());
  std::string data_dir = FreshTestDir("bootstrap");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();

  walrep::v1::StartReplicaRequest req;
  req.set_conninfo((*pg)->ReplConnInfo());
  req.set_slot_name("walrep_boot");
  req.set_create_slot(true);
  req.set_bootstrap(true);
  req.mutable_status_interval()->set_seconds(1);
  walrep::v1::StartReplicaResponse resp;
  auto ctx = (*agent)->Context(absl::Seconds(30));
  grpc::Status st = (*agent)->stub()->StartReplica(ctx.get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();

  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(60))) << GetProgress(**agent)->DebugString() << (*agent)->ReadLog();
  ASSERT_TRUE((*pg)->Psql("INSERT INTO b SELECT generate_series(1, 100000)").ok());
  Lsn target = *ServerFlushLsn(**pg);
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->flush_lsn() >= target.value();
  }, absl::Seconds(30)));

  // The copy is complete and verifies (files against the manifest, WAL from pg_wal).
  std::string pgdata = data_dir + "/pgdata";
  auto verify = RunShell(absl::StrCat(PgPrimary::kBinDir, "/pg_verifybackup ", ShellQuote(pgdata)));
  EXPECT_TRUE(verify.ok()) << verify.status();
  auto start = RunShell("grep -o '\"Start-LSN\": \"[0-9A-F/]*\"' " + ShellQuote(pgdata + "/backup_manifest"));
  ASSERT_TRUE(start.ok()) << start.status();
  std::string lsn_text = start->substr(start->find(": \"") + 3);
  lsn_text = lsn_text.substr(0, lsn_text.find('"'));
  auto backup_start = Lsn::Parse(lsn_text);
  ASSERT_TRUE(backup_start.ok()) << *start;
  // The archive begins with the segment holding the backup's start: no gap.
  uint64_t segno = backup_start->value() / (16ull << 20);
  std::string first_segment = absl::StrCat("00000001", absl::StrFormat("%08X%08X", segno >> 8, segno & 0xFF));
  auto listing = RunShell("ls " + ShellQuote(data_dir + "/wal") + " | head -n 1");
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->substr(0, 24), first_segment) << *listing;
  auto p = GetProgress(**agent);
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_NE(p->system_identifier(), 0u);
  EXPECT_EQ(p->role(), walrep::v1::ROLE_REPLICA);
}

}  // namespace
}  // namespace walrep::testing
