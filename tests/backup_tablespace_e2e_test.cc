// FetchBaseBackup of a primary with a tablespace against a real PostgreSQL 15 primary:
// the tablespace lands only where the caller's tablespace_mapping said, and nothing else
// is written anywhere.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/backup_e2e_util.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::FetchBaseBackupRequest;
using walrep::v1::FetchBaseBackupResponse;

constexpr const char* kBin = kPgBin;

// Every regular file and directory under `dirs`, sorted (for "nothing else was written").
std::string Listing(const std::vector<std::string>& dirs) {
  std::string args;
  for (const auto& d : dirs) absl::StrAppend(&args, " ", ShellQuote(d));
  return Trim(RunShell("find" + args + " | sort"));
}

TEST(BackupTablespaceE2eTest, OnlyWhereTheCallerSaid) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ScratchDir scratch;
  auto ts = CreateTablespaceTable(**pg, 2000);
  ASSERT_TRUE(ts.ok()) << ts.status();
  const std::string ts_primary = *ts;
  std::string oid = Trim((*pg)->Psql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts'"));
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("ts_agent")});
  ASSERT_TRUE(agent.ok()) << agent.status();

  auto fetch = [&](const FetchBaseBackupRequest& req) {
    auto ctx = (*agent)->Context(absl::Minutes(3));
    auto reader = (*agent)->stub()->FetchBaseBackup(ctx.get(), req);
    FetchBaseBackupResponse msg;
    while (reader->Read(&msg)) {
    }
    return reader->Finish();
  };
  FetchBaseBackupRequest req;
  req.set_conninfo((*pg)->ReplConnInfo());
  req.set_fast_checkpoint(true);

  // 1. Not mapped: refused, naming the location, and nothing outside the target written
  // (least of all into the primary's own tablespace directory).
  std::string before = Listing({scratch.path(), ts_primary});
  req.set_target_dir(scratch.path() + "/refused");
  grpc::Status refused = fetch(req);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), absl::StrCat("\"", ts_primary, "\"")))
      << refused.error_message();
  std::string after = Listing({scratch.path(), ts_primary});
  std::string after_outside_target;
  for (absl::string_view line : absl::StrSplit(after, '\n')) {
    if (!absl::StartsWith(line, scratch.path() + "/refused")) {
      absl::StrAppend(&after_outside_target, after_outside_target.empty() ? "" : "\n", line);
    }
  }
  EXPECT_EQ(after_outside_target, before);
  EXPECT_TRUE(WaitFor([&] { return NoReplicationLeft(**pg); }, absl::Seconds(5)));

  // 2. Mapped: the copy's link points at the mapped directory and the copy verifies.
  std::string target = scratch.path() + "/mapped";
  std::string ts_copy = scratch.path() + "/ts_copy";
  req.set_target_dir(target);
  (*req.mutable_tablespace_mapping())[ts_primary] = ts_copy;
  grpc::Status mapped = fetch(req);
  ASSERT_TRUE(mapped.ok()) << mapped.error_message() << (*agent)->ReadLog();
  EXPECT_EQ(Trim(RunShell("readlink " + ShellQuote(target + "/pg_tblspc/" + oid))), ts_copy);
  ASSERT_TRUE(
      RunShell(absl::StrCat("chown -R postgres ", ShellQuote(target), " ", ShellQuote(ts_copy)))
          .ok());
  auto verify = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", kBin,
                                      "/pg_verifybackup ", ShellQuote(target), " 2>&1"));
  EXPECT_TRUE(verify.ok()) << verify.status();
  EXPECT_FALSE(MarkedIncomplete(target));

  // 3. In place: the primary's own path, which on another host is empty. Here the agent
  // gets a mount namespace of its own with an empty tmpfs over that path, so the primary
  // sees its data and the agent an empty location.
  auto placed = AgentProcess::Start(
      {.data_dir = FreshTestDir("ts_inplace_agent"),
       .wrapper = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                   "mount -t tmpfs tmpfs \"$0\" && exec \"$@\"", ts_primary}});
  ASSERT_TRUE(placed.ok()) << placed.status();
  FetchBaseBackupRequest in_place;
  in_place.set_conninfo((*pg)->ReplConnInfo());
  in_place.set_fast_checkpoint(true);
  in_place.set_target_dir(scratch.path() + "/in_place");
  in_place.set_tablespaces_in_place(true);
  std::string primary_files = Listing({ts_primary});
  {
    auto ctx = (*placed)->Context(absl::Minutes(3));
    auto reader = (*placed)->stub()->FetchBaseBackup(ctx.get(), in_place);
    FetchBaseBackupResponse msg;
    while (reader->Read(&msg)) {
    }
    grpc::Status st = reader->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message() << (*placed)->ReadLog();
  }
  EXPECT_EQ(Trim(RunShell("readlink " + ShellQuote(scratch.path() + "/in_place/pg_tblspc/" + oid))),
            ts_primary);
  // Inside the agent's namespace the tablespace landed in the (formerly empty) location,
  // complete; outside it the primary's directory is as it was.
  std::string inside = Trim(RunShell(absl::StrCat("nsenter -t ", (*placed)->pid(), " -m -- find ",
                                                  ShellQuote(ts_primary), " -type f | wc -l")));
  int files_inside = 0;
  EXPECT_TRUE(absl::SimpleAtoi(inside, &files_inside) && files_inside > 0) << inside;
  EXPECT_TRUE(RunShell(absl::StrCat("! nsenter -t ", (*placed)->pid(), " -m -- test -e ",
                                    ShellQuote(ts_primary + "/" + kIncompleteMarkerName)))
                  .ok());
  EXPECT_EQ(Listing({ts_primary}), primary_files);
}

}  // namespace
}  // namespace walrep::testing
