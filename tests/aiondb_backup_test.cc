// aiondb's BASE_BACKUP client against the fake aiondb primary: several files (frames
// packed into and split across CopyData), the Header's identity, and the hostile
// variants — a path escape is InvalidArgument with nothing written outside the target, an
// oversized frame is DataLoss with nothing of it written.
#include "aiondb/base_backup.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/e2e_util.h"
#include "tests/fake_aiondb_primary.h"
#include "wire/conninfo.h"

namespace walrep::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST(AiondbBaseBackup, FetchesSeveralFilesAndTheIdentity) {
  FakeAiondbPrimary::Options o;
  o.auth = FakeAiondbPrimary::Auth::kMd5;
  o.extra_backup_files = {{"pages/7.page", std::string(200000, 'z')},
                          {"replication_slots/a/b.json", "{}"}};
  FakeAiondbPrimary fake(o);
  fake.AddEntries(4500);  // three WAL files of up to 2,000 entries
  const std::string dir = FreshTestDir("aiondb_backup_ok");
  auto r = aiondb::FetchBaseBackup(*ConnInfo::Parse(fake.ConnInfo()), dir, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header.system_identifier, "7400000000000000001");
  EXPECT_EQ(r->header.timeline, 1u);
  EXPECT_EQ(r->header.wal_start_lsn, fake.lsns().back());
  EXPECT_EQ(r->files, 5u);
  for (const auto& f : fake.WalFiles(4500)) EXPECT_EQ(ReadFile(dir + "/" + f.path), f.content) << f.path;
  EXPECT_EQ(ReadFile(dir + "/pages/7.page"), std::string(200000, 'z'));
  EXPECT_EQ(ReadFile(dir + "/replication_slots/a/b.json"), "{}");
}

TEST(AiondbBaseBackup, PathEscapeIsInvalidArgument) {
  FakeAiondbPrimary::Options o;
  o.hostile_backup = FakeAiondbPrimary::HostileBackup::kPathEscape;
  FakeAiondbPrimary fake(o);
  fake.AddEntries(10);
  const std::string parent = FreshTestDir("aiondb_backup_escape");
  mkdir(parent.c_str(), 0700);
  const std::string dir = parent + "/target";
  auto r = aiondb::FetchBaseBackup(*ConnInfo::Parse(fake.ConnInfo()), dir, nullptr, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_FALSE(Exists(parent + "/escaped"));
  EXPECT_TRUE(Exists(dir + "/wal_000000000001.log"));  // the files before it were written
}

TEST(AiondbBaseBackup, OversizedFrameIsDataLoss) {
  FakeAiondbPrimary::Options o;
  o.hostile_backup = FakeAiondbPrimary::HostileBackup::kOversizedFrame;
  FakeAiondbPrimary fake(o);
  fake.AddEntries(10);
  const std::string dir = FreshTestDir("aiondb_backup_big");
  auto r = aiondb::FetchBaseBackup(*ConnInfo::Parse(fake.ConnInfo()), dir, nullptr, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // Its FileStart was applied, none of the oversized FileData.
  struct stat st;
  ASSERT_EQ(stat((dir + "/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
}

}  // namespace
}  // namespace walrep::testing
