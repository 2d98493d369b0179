#include "replay/file_ops.h"

#include <unistd.h>

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using Op = FaultInjectingFileOps::Op;
using walrep::testing::TempDir;

TEST(CreateDirDurablyTest, NewDirectoryIsSyncedIntoItsParent) {
  TempDir dir;
  FaultInjectingFileOps ops;
  ASSERT_TRUE(CreateDirDurably(dir.Join("sub"), &ops).ok());
  EXPECT_TRUE(testing::Exists(dir.Join("sub")));
  EXPECT_EQ(ops.calls(Op::kSyncDir), 1);
  // Which directory was synced: the injected failure names it.
  ops.FailAfter(Op::kSyncDir, 0, EIO);
  absl::Status s = CreateDirDurably(dir.Join("sub/deeper/"), &ops);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("fsync directory " + dir.Join("sub") + ":"));
  EXPECT_THAT(s.message(), HasSubstr("input/output error"));
}

TEST(CreateDirDurablyTest, ExistingDirectoryIsLeftAlone) {
  TempDir dir;
  FaultInjectingFileOps ops;
  ASSERT_TRUE(CreateDirDurably(dir.Join("sub"), &ops).ok());
  ASSERT_TRUE(CreateDirDurably(dir.Join("sub"), &ops).ok());
  EXPECT_EQ(ops.calls(Op::kSyncDir), 1);
}

TEST(CreateDirDurablyTest, FileInTheWayAndMissingParent) {
  TempDir dir;
  testing::WriteAll(dir.Join("f"), "x");
  absl::Status in_the_way = CreateDirDurably(dir.Join("f"));
  EXPECT_EQ(in_the_way.code(), absl::StatusCode::kAlreadyExists) << in_the_way;
  EXPECT_EQ(CreateDirDurably(dir.Join("f/sub")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateDirDurably(dir.Join("no/sub")).code(), absl::StatusCode::kNotFound);
}

TEST(FileOpsTest, CreateExclusiveRefusesAnythingAtTheName) {
  TempDir dir;
  FileOps* ops = DefaultFileOps();
  auto f = ops->Open(dir.Join("m"), FileOps::OpenMode::kCreateExclusive);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->WriteAt(0, "x").ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(ops->Open(dir.Join("m"), FileOps::OpenMode::kCreateExclusive).status().code(),
            absl::StatusCode::kAlreadyExists);
  // A dangling symlink is not followed to create its target.
  ASSERT_EQ(::symlink(dir.Join("elsewhere").c_str(), dir.Join("link").c_str()), 0);
  EXPECT_EQ(ops->Open(dir.Join("link"), FileOps::OpenMode::kCreateExclusive).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(testing::Exists(dir.Join("elsewhere")));
  EXPECT_EQ(testing::ReadAll(dir.Join("m")), "x");
}

TEST(FileOpsTest, TruncateCutsTheFile) {
  TempDir dir;
  const std::string path = dir.Join("f");
  auto f = DefaultFileOps()->Open(path, FileOps::OpenMode::kCreateTruncate);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->WriteAt(0, "abcdef").ok());
  ASSERT_TRUE((*f)->Truncate(2).ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(*(*f)->Size(), 2u);
  EXPECT_EQ(walrep::testing::ReadAll(path), "ab");
}

TEST(FileOpsTest, ErrorsCarryTheErrnoCode) {
  TempDir dir;
  auto missing = DefaultFileOps()->Open(dir.Join("nope"), FileOps::OpenMode::kRead);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("open " + dir.Join("nope")));
  EXPECT_EQ(DefaultFileOps()->FileSize(dir.Join("nope")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FileOpsTest, DirNameAndJoinPath) {
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("/a/b/"), "/a");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/"), "/");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

}  // namespace
}  // namespace walrep
