// FetchBaseBackup's output choices end to end, through the daemon's gRPC API against a
// real PostgreSQL 15 primary with a tablespace and pgbench data: server-side compression
// decompressed into a plain copy, tar output (uncompressed, client-compressed, server-
// compressed) extracted by GNU tar, and -R copies that start as streaming standbys. Every
// copy passes pg_verifybackup; the booted ones hold the primary's rows.
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/backup_e2e_util.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using v1::FetchBaseBackupRequest;

const char* kChecks[] = {
    "SELECT count(*) FROM pgbench_accounts",
    "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM ts_table t",
};

class BackupFormatsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = PgPrimary::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
    auto ts = CreateTablespaceTable(*pg_, 5000);
    ASSERT_TRUE(ts.ok()) << ts.status();
    ts_primary_ = new std::string(*ts);
    auto init = pg_->RunTool("pgbench", absl::StrCat("-h ", ShellQuote(pg_->socket_dir()), " -p ",
                                                     pg_->port(), " -i -s 2 -q postgres 2>&1"));
    ASSERT_TRUE(init.ok()) << init.status();
    expected_ = new std::vector<std::string>;
    for (const char* q : kChecks) {
      auto r = pg_->Psql(q);
      ASSERT_TRUE(r.ok()) << r.status();
      expected_->push_back(std::string(absl::StripTrailingAsciiWhitespace(*r)));
    }
    auto oid = pg_->Psql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts'");
    ASSERT_TRUE(oid.ok());
    ts_oid_ = new std::string(absl::StripTrailingAsciiWhitespace(*oid));
    auto agent = AgentProcess::Start({.data_dir = FreshTestDir("backup_formats_agent")});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = agent->release();
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete pg_;
  }

  FetchBaseBackupRequest Request(const std::string& target) const {
    FetchBaseBackupRequest req;
    req.set_conninfo(pg_->ReplConnInfo());
    req.set_target_dir(target);
    req.set_fast_checkpoint(true);
    return req;
  }

  static void Compress(FetchBaseBackupRequest& req, v1::CompressionMethod m,
                       v1::CompressionLocation where) {
    req.mutable_compression()->set_method(m);
    req.mutable_compression()->set_location(where);
  }

  // pg_verifybackup over a plain directory (as postgres, who owns it afterwards).
  static absl::Status Verify(const std::string& dir, const std::string& tsdir) {
    auto out = RunShell(absl::StrCat("chown -R postgres ", ShellQuote(dir), " ", ShellQuote(tsdir),
                                     " && cd /tmp && runuser -u postgres -- ", kPgBin,
                                     "/pg_verifybackup ", ShellQuote(dir), " 2>&1"));
    return out.status();
  }

  // Starts the copy on a port of its own, checks the primary's rows, stops it.
  void BootAndCheck(const std::string& dir, const std::string& tsdir, const std::string& tag) {
    int port = PickFreePort();
    std::string sock = scratch_.path() + "/sock_" + tag;
    ASSERT_TRUE(PrepareCopy(dir, tsdir, port, sock, "").ok());
    ASSERT_TRUE(PgCtl(dir, "start").ok()) << RunShell("cat " + dir + "/server.log").value_or("");
    for (size_t i = 0; i < std::size(kChecks); ++i) {
      EXPECT_EQ(Sql(port, sock, kChecks[i]), (*expected_)[i]) << tag << ": " << kChecks[i];
    }
    EXPECT_TRUE(PgCtl(dir, "stop").ok());
  }

  // Extracts a tar-format backup the way a restore does: base.tar into `dir`, pg_wal.tar
  // into its pg_wal, the tablespace's archive into `tsdir` with the link pointed there.
  static absl::Status ExtractTar(const std::string& backup, const std::string& dir,
                                 const std::string& tsdir, const std::string& suffix,
                                 const std::string& wal_suffix) {
    auto flag = [](const std::string& s) -> std::string {
      if (s == ".gz") return "-z ";
      if (s == ".lz4") return "-I lz4 ";
      if (s == ".zst") return "-I zstd ";
      return "";
    };
    return RunShell(absl::StrCat(
                        "set -e; mkdir -p ", ShellQuote(dir + "/pg_wal"), " ", ShellQuote(tsdir),
                        "; tar ", flag(suffix), "-xf ", ShellQuote(backup + "/base.tar" + suffix),
                        " -C ", ShellQuote(dir), "; tar ", flag(wal_suffix), "-xf ",
                        ShellQuote(backup + "/pg_wal.tar" + wal_suffix), " -C ",
                        ShellQuote(dir + "/pg_wal"), "; tar ", flag(suffix), "-xf ",
                        ShellQuote(absl::StrCat(backup, "/", *ts_oid_, ".tar", suffix)), " -C ",
                        ShellQuote(tsdir), "; ln -sfn ", ShellQuote(tsdir), " ",
                        ShellQuote(absl::StrCat(dir, "/pg_tblspc/", *ts_oid_)), "; cp ",
                        ShellQuote(backup + "/backup_manifest"), " ", ShellQuote(dir)))
        .status();
  }

  // Waits (bounded) until the primary reports `n` streaming standbys.
  static bool WaitForStandbys(int n) {
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      auto r = pg_->Psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                         "AND application_name <> 'walrep'");
      if (r.ok() && absl::StripTrailingAsciiWhitespace(*r) == std::to_string(n)) return true;
      absl::SleepFor(absl::Milliseconds(200));  // polling a server, bounded by the deadline
    }
    return false;
  }

  static PgPrimary* pg_;
  static AgentProcess* agent_;
  static std::string* ts_primary_;
  static std::string* ts_oid_;
  static std::vector<std::string>* expected_;
  ScratchDir scratch_;
};

PgPrimary* BackupFormatsE2eTest::pg_ = nullptr;
AgentProcess* BackupFormatsE2eTest::agent_ = nullptr;
std::string* BackupFormatsE2eTest::ts_primary_ = nullptr;
std::string* BackupFormatsE2eTest::ts_oid_ = nullptr;
std::vector<std::string>* BackupFormatsE2eTest::expected_ = nullptr;

TEST_F(BackupFormatsE2eTest, ServerCompressedPlainCopiesVerifyAndBoot) {
  struct Case {
    v1::CompressionMethod method;
    const char* tag;
    bool boot;
  } cases[] = {{v1::COMPRESSION_METHOD_LZ4, "lz4", true},
               {v1::COMPRESSION_METHOD_ZSTD, "zstd", true},
               {v1::COMPRESSION_METHOD_GZIP, "gzip", false}};
  for (const Case& c : cases) {
    std::string target = scratch_.path() + "/plain_" + c.tag;
    std::string ts = scratch_.path() + "/ts_plain_" + c.tag;
    FetchBaseBackupRequest req = Request(target);
    Compress(req, c.method, v1::COMPRESSION_LOCATION_SERVER);
    (*req.mutable_tablespace_mapping())[*ts_primary_] = ts;
    BackupOutcome done = Fetch(*agent_, req);
    ASSERT_TRUE(done.status.ok()) << c.tag << ": " << done.status.error_message();
    ASSERT_TRUE(done.result.has_value());
    EXPECT_TRUE(done.result->manifest_verified());
    EXPECT_EQ(done.result->archives_size(), 0);
    const v1::BackupProgress& last = done.progress.back();
    // Progress counts what the server read, uncompressed, as pg_basebackup -P shows it.
    EXPECT_GE(last.bytes_done(), last.bytes_total());
    EXPECT_GT(last.bytes_done(), uint64_t{30} << 20) << c.tag;
    EXPECT_EQ(last.tablespaces_total(), 2u);
    EXPECT_EQ(last.tablespaces_done(), 2u);
    EXPECT_TRUE(Verify(target, ts).ok()) << c.tag << ": " << Verify(target, ts).message();
    if (c.boot) BootAndCheck(target, ts, c.tag);
  }
}

TEST_F(BackupFormatsE2eTest, TarOutputIsWhatPgBasebackupWritesAndExtractsToAVerifiedCopy) {
  struct Case {
    v1::CompressionMethod method;
    v1::CompressionLocation where;
    const char* tag;
    std::string suffix, wal_suffix;
    bool boot;
  } cases[] = {
      {v1::COMPRESSION_METHOD_NONE, v1::COMPRESSION_LOCATION_CLIENT, "none", "", "", true},
      {v1::COMPRESSION_METHOD_LZ4, v1::COMPRESSION_LOCATION_CLIENT, "client_lz4", ".lz4", ".lz4",
       true},
      {v1::COMPRESSION_METHOD_ZSTD, v1::COMPRESSION_LOCATION_CLIENT, "client_zstd", ".zst", ".zst",
       true},
      {v1::COMPRESSION_METHOD_GZIP, v1::COMPRESSION_LOCATION_CLIENT, "client_gzip", ".gz", ".gz",
       false},
      // The primary's own archives are kept as sent; pg_wal.tar (streamed here) is not
      // compressed, as pg_basebackup --compress=server-... leaves it.
      {v1::COMPRESSION_METHOD_LZ4, v1::COMPRESSION_LOCATION_SERVER, "server_lz4", ".lz4", "",
       false},
      {v1::COMPRESSION_METHOD_ZSTD, v1::COMPRESSION_LOCATION_SERVER, "server_zstd", ".zst", "",
       false},
  };
  for (const Case& c : cases) {
    std::string target = scratch_.path() + "/tar_" + c.tag;
    FetchBaseBackupRequest req = Request(target);
    req.set_format(v1::BACKUP_FORMAT_TAR);
    Compress(req, c.method, c.where);
    BackupOutcome done = Fetch(*agent_, req);
    ASSERT_TRUE(done.status.ok()) << c.tag << ": " << done.status.error_message();
    ASSERT_TRUE(done.result.has_value());
    EXPECT_TRUE(done.result->manifest_verified()) << c.tag;
    std::vector<std::string> want = {*ts_oid_ + ".tar" + c.suffix, "base.tar" + c.suffix,
                                     "pg_wal.tar" + c.wal_suffix};
    std::vector<std::string> got(done.result->archives().begin(), done.result->archives().end());
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << c.tag;
    auto listing = RunShell("ls " + ShellQuote(target));
    ASSERT_TRUE(listing.ok());
    std::vector<std::string> files = absl::StrSplit(
        absl::StripTrailingAsciiWhitespace(*listing), '\n');
    std::vector<std::string> want_files = want;
    want_files.push_back("backup_manifest");
    std::sort(want_files.begin(), want_files.end());
    EXPECT_EQ(files, want_files) << c.tag << ": nothing else (no marker, no streamed WAL dir)";
    // Each file is what its suffix says: the matching tool tests it.
    if (c.suffix == ".lz4") {
      EXPECT_TRUE(RunShell("lz4 -t " + ShellQuote(target + "/base.tar.lz4")).ok());
    }
    if (c.suffix == ".zst") {
      EXPECT_TRUE(RunShell("zstd -q -t " + ShellQuote(target + "/base.tar.zst")).ok());
    }
    if (c.suffix == ".gz") {
      EXPECT_TRUE(RunShell("gzip -t " + ShellQuote(target + "/base.tar.gz")).ok());
    }
    std::string dir = scratch_.path() + "/restored_" + c.tag;
    std::string ts = scratch_.path() + "/ts_restored_" + c.tag;
    auto extracted = ExtractTar(target, dir, ts, c.suffix, c.wal_suffix);
    ASSERT_TRUE(extracted.ok()) << c.tag << ": " << extracted;
    EXPECT_TRUE(Verify(dir, ts).ok()) << c.tag << ": " << Verify(dir, ts).message();
    if (c.boot) BootAndCheck(dir, ts, c.tag);
  }
}

TEST_F(BackupFormatsE2eTest, WriteRecoveryConfMakesCopiesThatStreamFromThePrimary) {
  ASSERT_TRUE(WaitForStandbys(0));
  // Plain.
  std::string plain = scratch_.path() + "/standby_plain";
  std::string ts_plain = scratch_.path() + "/ts_standby_plain";
  FetchBaseBackupRequest req = Request(plain);
  req.set_write_recovery_conf(true);
  (*req.mutable_tablespace_mapping())[*ts_primary_] = ts_plain;
  BackupOutcome done = Fetch(*agent_, req);
  ASSERT_TRUE(done.status.ok()) << done.status.error_message();
  struct stat st;
  ASSERT_EQ(stat((plain + "/standby.signal").c_str(), &st), 0);
  ASSERT_EQ(stat((plain + "/postgresql.auto.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto conf = RunShell("cat " + ShellQuote(plain + "/postgresql.auto.conf"));
  ASSERT_TRUE(conf.ok());
  EXPECT_NE(conf->find("primary_conninfo = '"), std::string::npos) << *conf;
  EXPECT_NE(conf->find(absl::StrCat("port=''", pg_->port(), "''")), std::string::npos) << *conf;
  EXPECT_TRUE(Verify(plain, ts_plain).ok()) << Verify(plain, ts_plain).message();
  int port = PickFreePort();
  std::string sock = scratch_.path() + "/sock_standby_plain";
  ASSERT_TRUE(PrepareCopy(plain, ts_plain, port, sock, "").ok());
  ASSERT_TRUE(PgCtl(plain, "start").ok()) << RunShell("cat " + plain + "/server.log").value_or("");
  EXPECT_EQ(Sql(port, sock, "SELECT pg_is_in_recovery()"), "t");
  EXPECT_TRUE(WaitForStandbys(1)) << RunShell("cat " + plain + "/server.log").value_or("");
  // A row written now reaches it by streaming.
  ASSERT_TRUE(pg_->Psql("CREATE TABLE after_backup AS SELECT 42 AS v").ok());
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (Sql(port, sock, "SELECT v FROM after_backup") != "42" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));  // polling a server, bounded by the deadline
  }
  EXPECT_EQ(Sql(port, sock, "SELECT v FROM after_backup"), "42");
  EXPECT_TRUE(PgCtl(plain, "stop").ok());
  ASSERT_TRUE(WaitForStandbys(0));
  ASSERT_TRUE(pg_->Psql("DROP TABLE after_backup").ok());

  // Tar, compressed here: the standby configuration is inside base.tar.zst.
  std::string tar = scratch_.path() + "/standby_tar";
  FetchBaseBackupRequest treq = Request(tar);
  treq.set_write_recovery_conf(true);
  treq.set_format(v1::BACKUP_FORMAT_TAR);
  Compress(treq, v1::COMPRESSION_METHOD_ZSTD, v1::COMPRESSION_LOCATION_CLIENT);
  done = Fetch(*agent_, treq);
  ASSERT_TRUE(done.status.ok()) << done.status.error_message();
  auto members = RunShell("tar -I zstd -tvf " + ShellQuote(tar + "/base.tar.zst") +
                          " | grep -E 'standby.signal|postgresql.auto.conf'");
  ASSERT_TRUE(members.ok());
  EXPECT_NE(members->find("-rw------- "), std::string::npos) << *members;
  EXPECT_NE(members->find("standby.signal"), std::string::npos) << *members;
  std::string dir = scratch_.path() + "/standby_tar_restored";
  std::string ts = scratch_.path() + "/ts_standby_tar";
  ASSERT_TRUE(ExtractTar(tar, dir, ts, ".zst", ".zst").ok());
  EXPECT_TRUE(Verify(dir, ts).ok()) << Verify(dir, ts).message();
  int tport = PickFreePort();
  std::string tsock = scratch_.path() + "/sock_standby_tar";
  ASSERT_TRUE(PrepareCopy(dir, ts, tport, tsock, "").ok());
  ASSERT_TRUE(PgCtl(dir, "start").ok()) << RunShell("cat " + dir + "/server.log").value_or("");
  EXPECT_EQ(Sql(tport, tsock, "SELECT pg_is_in_recovery()"), "t");
  EXPECT_TRUE(WaitForStandbys(1)) << RunShell("cat " + dir + "/server.log").value_or("");
  EXPECT_TRUE(PgCtl(dir, "stop").ok());
}

TEST_F(BackupFormatsE2eTest, ContradictoryChoicesAreRefusedByNameAndWriteNothing) {
  std::string target = scratch_.path() + "/never";
  struct Case {
    const char* what;
    std::function<void(FetchBaseBackupRequest&)> set;
    const char* says;
  } cases[] = {
      {"client compression of a plain copy",
       [](FetchBaseBackupRequest& r) {
         Compress(r, v1::COMPRESSION_METHOD_LZ4, v1::COMPRESSION_LOCATION_CLIENT);
       },
       "format TAR"},
      {"tablespace mapping with tar",
       [](FetchBaseBackupRequest& r) {
         r.set_format(v1::BACKUP_FORMAT_TAR);
         (*r.mutable_tablespace_mapping())["/a"] = "/b";
       },
       "tablespace_mapping"},
      {"-R into a server-compressed tar",
       [](FetchBaseBackupRequest& r) {
         r.set_format(v1::BACKUP_FORMAT_TAR);
         r.set_write_recovery_conf(true);
         Compress(r, v1::COMPRESSION_METHOD_ZSTD, v1::COMPRESSION_LOCATION_SERVER);
       },
       "write_recovery_conf"},
      {"a level out of range",
       [](FetchBaseBackupRequest& r) {
         Compress(r, v1::COMPRESSION_METHOD_GZIP, v1::COMPRESSION_LOCATION_SERVER);
         r.mutable_compression()->set_level(10);
       },
       "level 10"},
      {"a level without a method",
       [](FetchBaseBackupRequest& r) { r.mutable_compression()->set_level(3); },
       "compression.level"},
  };
  for (const Case& c : cases) {
    FetchBaseBackupRequest req = Request(target);
    c.set(req);
    BackupOutcome out = Fetch(*agent_, req);
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(out.status.error_message().find(c.says), std::string::npos)
        << c.what << ": " << out.status.error_message();
    EXPECT_FALSE(RunShell("test -e " + ShellQuote(target)).ok()) << c.what;
  }
}

}  // namespace
}  // namespace walrep::testing
