#include "replay/atomic_file.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using walrep::testing::TempDir;

TEST(AtomicFileTest, WritesAndReplaces) {
  TempDir dir;
  const std::string path = dir.Join("f");
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  EXPECT_EQ(testing::ReadAll(path), "one");
  ASSERT_TRUE(WriteFileAtomically(path, "two, longer").ok());
  EXPECT_EQ(testing::ReadAll(path), "two, longer");
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(testing::ReadAll(path), "");
  EXPECT_EQ(testing::List(dir.path()), std::vector<std::string>{"f"});
}

TEST(AtomicFileTest, FailedWriteKeepsOldContentsAndCleansUp) {
  TempDir dir;
  const std::string path = dir.Join("f");
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  FaultInjectingFileOps ops;
  ops.FailAfter(FaultInjectingFileOps::Op::kWrite, 0, ENOSPC);
  absl::Status s = WriteFileAtomically(path, "new", &ops);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("no space left on device"));
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_EQ(testing::ReadAll(path), "old");
  EXPECT_EQ(testing::List(dir.path()), std::vector<std::string>{"f"});
}

TEST(AtomicFileTest, FsyncAndRenameFailuresSurface) {
  TempDir dir;
  const std::string path = dir.Join("f");
  for (auto op : {FaultInjectingFileOps::Op::kSync, FaultInjectingFileOps::Op::kRename,
                  FaultInjectingFileOps::Op::kSyncDir}) {
    FaultInjectingFileOps ops;
    ops.FailAfter(op, 0, EIO);
    absl::Status s = WriteFileAtomically(path, "x", &ops);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(s.message(), HasSubstr("input/output error"));
  }
}

TEST(AtomicFileTest, ReadSmallFile) {
  TempDir dir;
  const std::string path = dir.Join("f");
  EXPECT_EQ(ReadSmallFile(path, 10).status().code(), absl::StatusCode::kNotFound);
  testing::WriteAll(path, std::string(5000, 'a'));
  auto got = ReadSmallFile(path, 5000);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 5000u);
  auto too_big = ReadSmallFile(path, 4999);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(too_big.status().message(), HasSubstr(path));
}

TEST(AtomicFileTest, FsyncDirAndDirName) {
  TempDir dir;
  EXPECT_TRUE(FsyncDir(dir.path()).ok());
  absl::Status missing = FsyncDir(dir.Join("nope"));
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("nope"));
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("c"), ".");
}

}  // namespace
}  // namespace walrep
