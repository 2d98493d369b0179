// The pure parts of the engine: postmaster.pid, `postgres --version`, the log-line
// classifier, the startup process's end-of-WAL line, the bindir default; and the log
// tailer over a plain file.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/log_tailer.h"  // ClassifyPostgresLogLine
#include "engine/postgres_version.h"
#include "engine/postmaster_pid.h"
#include "engine/startup_log.h"
#include "replay/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(PostmasterPidTest, ParsesAReadyStandby) {
  absl::StatusOr<PostmasterPid> pm = ParsePostmasterPid(
      "4242\n/tmp/x/pgdata\n1764645000\n5433\n/tmp/x/sock\nlocalhost\n  1234567  98765\n"
      "standby \n");
  ASSERT_TRUE(pm.ok()) << pm.status();
  EXPECT_EQ(pm->pid, 4242);
  EXPECT_EQ(pm->data_dir, "/tmp/x/pgdata");
  EXPECT_EQ(pm->port, 5433);
  EXPECT_EQ(pm->status, "standby");
}

TEST(PostmasterPidTest, StatusAbsentWhileStarting) {
  absl::StatusOr<PostmasterPid> pm = ParsePostmasterPid("77\n/d\n1\n5432\n");
  ASSERT_TRUE(pm.ok());
  EXPECT_EQ(pm->status, "");
}

TEST(PostmasterPidTest, RejectsGarbage) {
  EXPECT_FALSE(ParsePostmasterPid("").ok());
  EXPECT_FALSE(ParsePostmasterPid("-5\n").ok());
  EXPECT_FALSE(ParsePostmasterPid("abc\n").ok());
}

TEST(PostmasterPidTest, OurOwnProcessIsNoPostmaster) {
  EXPECT_FALSE(IsPostmasterOf(getpid(), "/usr/lib/postgresql/15/bin", "/"));
  EXPECT_FALSE(IsPostmasterOf(0, "/usr/lib/postgresql/15/bin", "/"));
}

TEST(PostgresVersionTest, Parses) {
  EXPECT_EQ(*ParsePostgresVersion("postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n"), 15);
  EXPECT_EQ(*ParsePostgresVersion("postgres (PostgreSQL) 9.6.24\n"), 9);
  EXPECT_EQ(*ParsePostgresVersion("postgres (PostgreSQL) 17beta1\n"), 17);
  EXPECT_FALSE(ParsePostgresVersion("bash: postgres: not found").ok());
  EXPECT_FALSE(ParsePostgresVersion("postgres (PostgreSQL) devel").ok());
}

TEST(PostgresVersionTest, DefaultBindirIsTheNewestWithAPostgresBinary) {
  const testing::TempDir tmp;
  const std::string& root = tmp.path();
  for (const char* v : {"9", "15", "16", "notaversion"}) {
    ASSERT_EQ(mkdir(absl::StrCat(root, "/", v).c_str(), 0755), 0);
    ASSERT_EQ(mkdir(absl::StrCat(root, "/", v, "/bin").c_str(), 0755), 0);
  }
  for (const char* v : {"9", "15", "notaversion"}) {  // 16 has no postgres
    std::string bin = absl::StrCat(root, "/", v, "/bin/postgres");
    std::ofstream(bin) << "#!/bin/sh\n";
    ASSERT_EQ(chmod(bin.c_str(), 0755), 0);
  }
  EXPECT_EQ(DefaultPostgresBindir(root), root + "/15/bin");
  EXPECT_EQ(DefaultPostgresBindir(root + "/absent"), "");
}

TEST(ClassifyTest, SeverityAfterAnyPrefix) {
  using K = PostgresLogLine::Kind;
  auto c = ClassifyPostgresLogLine("2026-12-02 03:12:00.123 UTC [1234] ERROR:  relation \"x\"");
  EXPECT_EQ(c.kind, K::kSeverity);
  EXPECT_EQ(c.level, spdlog::level::err);
  EXPECT_EQ(ClassifyPostgresLogLine("WARNING:  foo").level, spdlog::level::warn);
  EXPECT_EQ(ClassifyPostgresLogLine("x FATAL:  role").level, spdlog::level::err);
  EXPECT_EQ(ClassifyPostgresLogLine("x PANIC:  could not").level, spdlog::level::critical);
  EXPECT_EQ(ClassifyPostgresLogLine("x LOG:  database system is ready").level,
            spdlog::level::debug);
  EXPECT_EQ(ClassifyPostgresLogLine("x DEBUG2:  y").kind, K::kSeverity);
  // The earliest marker decides: a LOG line quoting "ERROR:  " is still LOG.
  EXPECT_EQ(ClassifyPostgresLogLine("x LOG:  statement: SELECT 'ERROR:  no'").level,
            spdlog::level::debug);
  EXPECT_EQ(ClassifyPostgresLogLine("x STATEMENT:  INSERT").kind, K::kDetail);
  EXPECT_EQ(ClassifyPostgresLogLine("\tcontinued statement text").kind, K::kOther);
}

TEST(StartupLogTest, EndOfWalLinesOfEveryVersion) {
  // PostgreSQL 12-15, then 16 and later, as the startup process logs them at the end of
  // the WAL walrep wrote (zeros follow it).
  auto a = ParseEndOfWalLine(
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid record length at 0/3000060: wanted 24, got 0");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(a->at, Lsn(0x3000060));
  auto b = ParseEndOfWalLine(
      "2026-12-07 22:40:01.123 CET [7] LOG:  invalid record length at 1A/FF000028: expected at "
      "least 24, got 0");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->pid, 7);
  EXPECT_EQ(b->at, Lsn((uint64_t{0x1A} << 32) | 0xFF000028));
}

TEST(StartupLogTest, EverythingElseIsNotAnEndOfWal) {
  const char* lines[] = {
      // Ends that name a page, not the end of the last record replayed.
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid magic number 0000 in log segment "
      "000000010000000000000003, offset 0",
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  unexpected pageaddr 0/1000000 in log segment "
      "000000010000000000000003, offset 0",
      // Not LOG (a client's WARNING quoting it), other prefixes, broken numbers.
      "2026-12-07 22:40:01.123 UTC [4242] WARNING:  invalid record length at 0/3000060: x",
      "2026-12-07 22:40:01.123 UTC [4242] ERROR:  LOG:  invalid record length at 0/3000060: x",
      "[4242] LOG:  invalid record length at 0/3000060: wanted 24, got 0",
      "2026-12-07 22:40:01.123 UTC [] LOG:  invalid record length at 0/3000060: x",
      "2026-12-07 22:40:01.123 UTC [042] LOG:  invalid record length at 0/3000060: x",
      "2026-12-07 22:40:01.123 UTC [12345678901] LOG:  invalid record length at 0/3000060: x",
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid record length at 0/0: wanted 24, got 0",
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid record length at 0/3000060",
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid record length at G/3000060: x",
      // A line of a client's multi-line message: the server puts a tab after each newline.
      "\t2026-12-07 22:40:01.123 UTC [4242] LOG:  invalid record length at 0/3000060: x",
      // Translated (lc_messages): not recognised, the query is the fallback.
      "2026-12-07 22:40:01.123 UTC [4242] LOG:  ungültige Datensatzlänge bei 0/3000060",
      "",
  };
  for (const char* line : lines) EXPECT_FALSE(ParseEndOfWalLine(line).has_value()) << line;
}

}  // namespace
}  // namespace walrep
