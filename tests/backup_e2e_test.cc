// FetchBaseBackup end to end: the daemon as a process, driven over gRPC, against a real
// PostgreSQL 15 primary with a tablespace and pgbench data. The copy must pass
// pg_verifybackup, start as a server with the primary's data, and run as a hot standby.
#include <stdlib.h>

#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/backup_e2e_util.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::BackupProgress;
using walrep::v1::BaseBackupResult;
using walrep::v1::FetchBaseBackupRequest;

constexpr const char* kBin = kPgBin;

const char* kChecks[] = {
    "SELECT count(*) FROM pgbench_accounts",
    "SELECT md5(string_agg(t::text, ',' ORDER BY bid)) FROM pgbench_branches t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM ts_table t",
};

TEST(BackupE2eTest, RestorableVerifiedCopyWithTablespaceAndHotStandby) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ScratchDir scratch;
  auto ts = CreateTablespaceTable(**pg, 5000);
  ASSERT_TRUE(ts.ok()) << ts.status();
  const std::string ts_primary = *ts;
  auto init = (*pg)->RunTool("pgbench", absl::StrCat("-h ", ShellQuote((*pg)->socket_dir()), " -p ",
                                                     (*pg)->port(), " -i -s 2 -q postgres 2>&1"));
  ASSERT_TRUE(init.ok()) << init.status();
  std::vector<std::string> expected;
  for (const char* q : kChecks) {
    auto r = (*pg)->Psql(q);
    ASSERT_TRUE(r.ok()) << r.status();
    expected.push_back(std::string(absl::StripTrailingAsciiWhitespace(*r)));
  }

  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("backup_agent")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string conninfo = (*pg)->ReplConnInfo();

  // Refusals first: they must not disturb anything.
  FetchBaseBackupRequest bad;
  bad.set_conninfo(conninfo);
  bad.set_target_dir("relative/dir");
  EXPECT_EQ(Fetch(**agent, bad).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::string full = scratch.path() + "/full";
  ASSERT_TRUE(RunShell("mkdir -p " + ShellQuote(full) + " && touch " + ShellQuote(full + "/x")).ok());
  bad.set_target_dir(full);
  BackupOutcome refused = Fetch(**agent, bad);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << refused.status.error_message();
  bad.set_target_dir(scratch.path() + "/never");
  bad.set_conninfo("host='unterminated");
  EXPECT_EQ(Fetch(**agent, bad).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad.set_conninfo(absl::StrCat("host=127.0.0.1 port=", (*pg)->port(),
                                " user=replicator password=wrong sslmode=disable"));
  BackupOutcome denied = Fetch(**agent, bad);
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << denied.status.error_message();
  bad.set_conninfo(absl::StrCat("host=127.0.0.1 port=", PickFreePort(),
                                " user=replicator sslmode=disable connect_timeout=2"));
  EXPECT_EQ(Fetch(**agent, bad).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(RunShell("test -e " + ShellQuote(scratch.path() + "/never")).ok());

  // 1. A full backup with a relocated tablespace.
  std::string target = scratch.path() + "/copy1";
  std::string ts_copy = scratch.path() + "/ts_copy1";
  FetchBaseBackupRequest req;
  req.set_conninfo(conninfo);
  req.set_target_dir(target);
  req.set_label("e2e");
  req.set_fast_checkpoint(true);
  (*req.mutable_tablespace_mapping())[ts_primary] = ts_copy;
  BackupOutcome done = Fetch(**agent, req);
  ASSERT_TRUE(done.status.ok()) << done.status.error_message() << "\n" << (*agent)->ReadLog();
  ASSERT_TRUE(done.result.has_value());
  ASSERT_GT(done.progress.size(), 1u);
  const BackupProgress& last = done.progress.back();
  EXPECT_EQ(last.phase(), walrep::v1::BACKUP_PHASE_DONE);
  EXPECT_GT(last.bytes_total(), 0u);
  EXPECT_GE(last.bytes_done(), last.bytes_total());
  EXPECT_GT(last.files_done(), 100u);
  const BaseBackupResult& r = *done.result;
  EXPECT_TRUE(r.manifest_verified());
  EXPECT_EQ(r.timeline(), 1u);
  EXPECT_GT(r.start_lsn(), 0u);
  EXPECT_GE(r.end_lsn(), r.start_lsn());
  auto primary_flush = ServerFlushLsn(**pg);
  ASSERT_TRUE(primary_flush.ok());
  EXPECT_LE(r.end_lsn(), primary_flush->value());
  EXPECT_NE(r.system_identifier(), 0u);
  EXPECT_EQ(r.target_dir(), target);
  std::cout << "backup: " << done.progress.size() << " progress messages, " << r.bytes()
            << " bytes, " << r.files() << " files, start " << r.start_lsn() << " end "
            << r.end_lsn() << ", bytes_total " << last.bytes_total() << std::endl;
  auto progress = GetProgress(**agent);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->system_identifier(), r.system_identifier());
  EXPECT_FALSE(progress->has_backup());

  int port = PickFreePort();
  std::string sock = scratch.path() + "/sock1";
  ASSERT_TRUE(PrepareCopy(target, ts_copy, port, sock, "").ok());
  auto verify = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", kBin,
                                      "/pg_verifybackup ", ShellQuote(target), " 2>&1"));
  EXPECT_TRUE(verify.ok()) << verify.status();
  ASSERT_TRUE(PgCtl(target, "start").ok()) << RunShell("cat " + target + "/server.log").value_or("");
  for (size_t i = 0; i < std::size(kChecks); ++i) {
    EXPECT_EQ(Sql(port, sock, kChecks[i]), expected[i]) << kChecks[i];
  }
  EXPECT_EQ(Sql(port, sock, "SELECT spcname FROM pg_tablespace WHERE spcname = 'ts'"), "ts");
  EXPECT_EQ(Sql(port, sock, "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'"),
            ts_copy);
  EXPECT_TRUE(PgCtl(target, "stop").ok());

  // 2. A throttled backup: visible in GetProgress and /metrics, a second one is refused,
  // and cancelling it leaves the target marked incomplete.
  std::string target2 = scratch.path() + "/copy2";
  std::string ts_copy2 = scratch.path() + "/ts_copy2";
  FetchBaseBackupRequest slow = req;
  slow.set_target_dir(target2);
  slow.set_max_rate_bytes_per_second(256 * 1024);
  (*slow.mutable_tablespace_mapping())[ts_primary] = ts_copy2;
  auto slow_ctx = (*agent)->Context(absl::Minutes(5));
  BackupOutcome cancelled;
  std::thread slow_thread([&] { cancelled = Fetch(**agent, slow, slow_ctx.get()); });
  bool running = WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->has_backup() && p->backup().bytes_done() > 0;
  }, absl::Seconds(30));
  EXPECT_TRUE(running);
  auto metrics = (*agent)->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("walrep_backup_estimated_bytes"), std::string::npos);
  FetchBaseBackupRequest second = req;
  second.set_target_dir(scratch.path() + "/copy3");
  EXPECT_EQ(Fetch(**agent, second).status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  slow_ctx->TryCancel();
  slow_thread.join();
  EXPECT_EQ(cancelled.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(RunShell("test -f " + ShellQuote(target2 + "/.walrep_backup_incomplete")).ok());
  EXPECT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && !p->has_backup();
  }, absl::Seconds(10)));

  // 3. The interrupted target is reused and the copy runs as a hot standby.
  FetchBaseBackupRequest again = req;
  again.set_target_dir(target2);
  (*again.mutable_tablespace_mapping())[ts_primary] = ts_copy2;
  BackupOutcome standby = Fetch(**agent, again);
  ASSERT_TRUE(standby.status.ok()) << standby.status.error_message();
  ASSERT_TRUE(standby.result.has_value());
  EXPECT_TRUE(standby.result->manifest_verified());
  int port2 = PickFreePort();
  std::string sock2 = scratch.path() + "/sock2";
  ASSERT_TRUE(PrepareCopy(target2, ts_copy2, port2, sock2,
                          absl::StrCat("primary_conninfo = '", conninfo, "'\n"))
                  .ok());
  ASSERT_TRUE(RunShell(absl::StrCat("runuser -u postgres -- touch ",
                                    ShellQuote(target2 + "/standby.signal")))
                  .ok());
  ASSERT_TRUE(PgCtl(target2, "start").ok()) << RunShell("cat " + target2 + "/server.log").value_or("");
  EXPECT_TRUE(WaitFor([&] { return Sql(port2, sock2, "SELECT pg_is_in_recovery()") == "t"; },
                      absl::Seconds(30)));
  EXPECT_EQ(Sql(port2, sock2, kChecks[1]), expected[1]);
  EXPECT_TRUE(PgCtl(target2, "stop").ok());
}

}  // namespace
}  // namespace walrep::testing
