#include "backup/extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backup/extractor_test_util.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"
#include "wire/testing/tar_builder.h"

namespace walrep::extractor_testing {
namespace {

using ::walrep::testing::ReadAll;
using ::walrep::testing::TarBuilder;

TEST_F(ExtractorTest, ExtractsSyncsAndCompletes) {
  auto x = Make();
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  std::string big(100000, 'b');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  TarBuilder tar;
  tar.Dir("./")
      .File("PG_VERSION", "15\n")
      .Dir("global/")
      .File("global/pg_control", big)
      .Dir("./pg_wal/")
      .Dir("./pg_wal/archive_status/")
      .File("base/1/1259", "")  // parents created on the fly
      .Trailer();
  ASSERT_TRUE(Extract(x->get(), tar.out).ok());
  EXPECT_EQ(ReadAll(target_ + "/PG_VERSION"), "15\n");
  EXPECT_EQ(ReadAll(target_ + "/global/pg_control"), big);
  EXPECT_TRUE(Exists(target_ + "/pg_wal/archive_status"));
  struct stat st;
  ASSERT_EQ(stat((target_ + "/global/pg_control").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((target_ + "/global").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ((*x)->files_written(), 3u);
  EXPECT_EQ((*x)->bytes_written(), 3u + big.size());
  EXPECT_EQ(observer_.paths,
            (std::vector<std::string>{"PG_VERSION", "global/pg_control", "base/1/1259"}));
  EXPECT_EQ(observer_.sizes[1], big.size());
  EXPECT_EQ(observer_.ends, 3);

  ASSERT_TRUE((*x)->WriteFile("backup_manifest", "{}\n").ok());
  EXPECT_EQ(observer_.paths.size(), 3u);  // not observed
  EXPECT_EQ((*x)->MarkComplete().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*x)->SyncAll().ok());
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
  EXPECT_EQ(ReadAll(target_ + "/backup_manifest"), "{}\n");
}

// Full aligned buffers go to the device with O_DIRECT, tails and small files through the
// page cache; either way every byte lands where it belongs.
TEST_F(ExtractorTest, FullBuffersAreWrittenDirectAndTailsBuffered) {
  ExtractorOptions options;
  options.target_dir = target_;
  options.write_buffer_size = 8192;
  options.file_ops = ops_;
  ASSERT_TRUE(options.direct_io);  // the default
  auto x = BackupExtractor::Create(options, &observer_);
  ASSERT_TRUE(x.ok()) << x.status();
  auto pattern = [](size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + seed);
    return s;
  };
  const std::vector<std::pair<std::string, std::string>> files = {
      {"empty", ""}, {"small", pattern(100, 1)}, {"one", pattern(8192, 2)},
      {"three_and_a_bit", pattern(3 * 8192 + 5, 3)}, {"rel", pattern(40000, 4)}};
  TarBuilder tar;
  for (const auto& [name, data] : files) tar.File(name, data);
  tar.Trailer();
  ASSERT_TRUE(Extract(x->get(), tar.out).ok());
  for (const auto& [name, data] : files) EXPECT_EQ(ReadAll(target_ + "/" + name), data) << name;
  ASSERT_TRUE((*x)->SyncAll().ok());
  // Does this file system take O_DIRECT at all? If it does, the extractor must have used it.
  int probe = open((base_ + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600);
  if (probe >= 0) {
    close(probe);
    EXPECT_EQ((*x)->direct_bytes(), (1 + 3 + 4) * 8192u);
  } else {
    EXPECT_EQ((*x)->direct_bytes(), 0u);
  }
  // Off, nothing is written direct.
  target_ = base_ + "/buffered";
  options.target_dir = target_;
  options.direct_io = false;
  auto y = BackupExtractor::Create(options, &observer_);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_TRUE(Extract(y->get(), tar.out).ok());
  for (const auto& [name, data] : files) EXPECT_EQ(ReadAll(target_ + "/" + name), data) << name;
  EXPECT_EQ((*y)->direct_bytes(), 0u);
}

TEST_F(ExtractorTest, RefusesNonEmptyTarget) {
  ASSERT_EQ(mkdir((base_ + "/target").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(target_.c_str(), 0700), 0);
  ASSERT_EQ(close(open((target_ + "/x").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto x = Make();
  EXPECT_EQ(x.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(x.status().message(), "exists but is not empty"));
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
}

TEST_F(ExtractorTest, RejectsUnsafeMembers) {
  struct Case {
    TarBuilder tar;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({TarBuilder().File("../escape", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("/abs", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("a/../../b", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("./", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().Symlink("evil", "/"), absl::StatusCode::kInvalidArgument});
  cases.push_back(
      {TarBuilder().Symlink("pg_tblspc/1/x", "/t"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().Symlink("pg_tblspc/16384", "/nowhere"),
                   absl::StatusCode::kDataLoss});  // no tablespace archive came first
  cases.push_back({TarBuilder().File("a", "1").File("a", "2"), absl::StatusCode::kAlreadyExists});
  cases.push_back(
      {TarBuilder().File("f", "1").File("f/g", "2"), absl::StatusCode::kInvalidArgument});
  cases.push_back(
      {TarBuilder().File(kIncompleteMarkerName, ""), absl::StatusCode::kInvalidArgument});
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(ClearIncomplete(target_).code(),
              i == 0 ? absl::StatusCode::kNotFound : absl::StatusCode::kOk);
    auto x = Make();
    ASSERT_TRUE(x.ok()) << x.status();
    absl::Status s = Extract(x->get(), cases[i].tar.out);
    EXPECT_EQ(s.code(), cases[i].code) << i << " " << s;
  }
  EXPECT_FALSE(Exists(base_ + "/target/escape"));
  EXPECT_FALSE(Exists(base_ + "/b"));
}

TEST_F(ExtractorTest, ClearIncompleteRemovesBackupAndItsTablespaces) {
  std::string ts = base_ + "/ts";
  std::string outside = base_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(close(open((outside + "/precious").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  {
    auto x = Make({}, 1000, /*in_place=*/true);
    ASSERT_TRUE(x.ok());
    ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_15/f", "x").out, "16384", ts).ok());
    ASSERT_TRUE(
        Extract(x->get(), TarBuilder().Symlink("pg_tblspc/16384", ts).File("base/1/2", "y").out)
            .ok());
    ASSERT_EQ(symlink(outside.c_str(), (target_ + "/base/out").c_str()), 0);
    // Abandoned here: no SyncAll, no MarkComplete.
  }
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  ASSERT_TRUE(ClearIncomplete(target_).ok());
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
  EXPECT_FALSE(Exists(target_ + "/base"));
  EXPECT_FALSE(Exists(ts + "/PG_15"));
  EXPECT_TRUE(Exists(outside + "/precious"));
  // A fresh backup can now go into the same places.
  auto again = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(Extract(again->get(), "", "16384", ts).ok());

  // A directory without the marker is never wiped.
  EXPECT_EQ(ClearIncomplete(outside).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Exists(outside + "/precious"));
  EXPECT_FALSE(*IsIncompleteWalrepBackup(base_ + "/missing"));
}

// The marker is what keeps a half-done backup from passing for a data directory, so a
// failure to make it (or its removal) durable is an error of the backup, never ignored.
TEST_F(ExtractorTest, MarkerWritesAndTheirFsyncsAreChecked) {
  using Op = FaultInjectingFileOps::Op;
  FaultInjectingFileOps ops;
  ops_ = &ops;
  ops.FailAfter(Op::kSync, 0, EIO);
  auto x = Make();
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInternal) << x.status();
  EXPECT_TRUE(absl::StrContains(x.status().message(),
                                absl::StrCat("fsync ", target_, "/", kIncompleteMarkerName)))
      << x.status();
  ASSERT_TRUE(ClearIncomplete(target_).ok());

  ops.Clear();
  ops.FailAfter(Op::kWrite, 0, ENOSPC);
  EXPECT_EQ(Make().status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(ClearIncomplete(target_).ok());

  // Created target: the marker's directory, then the target's parent.
  ops.Clear();
  ASSERT_EQ(rmdir(target_.c_str()), 0);
  const int before = ops.calls(Op::kSyncDir);
  x = Make();
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(ops.calls(Op::kSyncDir), before + 2);
  ASSERT_TRUE((*x)->SyncAll().ok());
  ops.FailAfter(Op::kSyncDir, 0, EIO);
  absl::Status done = (*x)->MarkComplete();
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal) << done;
  EXPECT_TRUE(absl::StrContains(done.message(), "fsync directory " + target_)) << done;
}

TEST(TablespaceOidFromArchiveNameTest, Names) {
  EXPECT_EQ(*TablespaceOidFromArchiveName("base.tar"), "");
  EXPECT_EQ(*TablespaceOidFromArchiveName("16384.tar"), "16384");
  EXPECT_FALSE(TablespaceOidFromArchiveName("base.tar.gz").ok());
  EXPECT_FALSE(TablespaceOidFromArchiveName("../1.tar").ok());
  EXPECT_FALSE(TablespaceOidFromArchiveName(".tar").ok());
}

TEST_F(ExtractorTest, SyncAllStopsOnceCancelled) {
  CancelToken cancel;
  auto x = Make({}, 1000, false, &cancel);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_VERSION", "15\n").out).ok());
  cancel.Cancel();
  EXPECT_EQ((*x)->SyncAll().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ((*x)->MarkComplete().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Exists(target_ + "/" + kIncompleteMarkerName));
}

}  // namespace
}  // namespace walrep::extractor_testing
