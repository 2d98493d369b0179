// The aiondb backup writer's state machine and path safety, without a network.
#include "aiondb/base_backup.h"

#include <sys/stat.h>

#include <fstream>

#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep::aiondb {
namespace {

using walrep::testing::SizeOf;
using walrep::testing::TempDir;

BackupHeader Header() { return {42, 1, "7400000000000000001"}; }

TEST(BackupWriter, WritesFilesInSubdirectories) {
  TempDir dir;
  auto w = BackupWriter::Open(dir.Join("target"));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Apply(Header()).ok());
  ASSERT_TRUE((*w)->Apply(FileStart{"pages/a/1.page", 6}).ok());
  ASSERT_TRUE((*w)->Apply(FileData{"abc"}).ok());
  ASSERT_TRUE((*w)->Apply(FileData{"def"}).ok());
  ASSERT_TRUE((*w)->Apply(FileEnd{}).ok());
  ASSERT_TRUE((*w)->Apply(BackupEnd{}).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  std::ifstream in(dir.Join("target/pages/a/1.page"));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s, "abcdef");
  EXPECT_EQ((*w)->files_done(), 1u);
  EXPECT_EQ((*w)->header()->system_identifier, "7400000000000000001");
}

TEST(BackupWriter, RefusesHostileAndOutOfOrderFrames) {
  TempDir dir;
  auto w = BackupWriter::Open(dir.Join("t"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Apply(FileStart{"a", 1}).code(), absl::StatusCode::kDataLoss);  // no Header
  ASSERT_TRUE((*w)->Apply(Header()).ok());
  EXPECT_EQ((*w)->Apply(Header()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*w)->Apply(FileStart{"../escaped", 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->Apply(FileStart{"/etc/passwd", 1}).code(), absl::StatusCode::kInvalidArgument);
  struct stat st;
  EXPECT_NE(stat(dir.Join("escaped").c_str(), &st), 0);
  EXPECT_EQ((*w)->Apply(FileData{"x"}).code(), absl::StatusCode::kDataLoss);  // no file open
  ASSERT_TRUE((*w)->Apply(FileStart{"f", 2}).ok());
  EXPECT_EQ((*w)->Apply(FileStart{"g", 1}).code(), absl::StatusCode::kDataLoss);  // f open
  EXPECT_EQ((*w)->Apply(FileData{"xyz"}).code(), absl::StatusCode::kDataLoss);  // past size
  ASSERT_TRUE((*w)->Apply(FileData{"x"}).ok());
  EXPECT_EQ((*w)->Apply(FileEnd{}).code(), absl::StatusCode::kDataLoss);  // short
  ASSERT_TRUE((*w)->Apply(FileData{"y"}).ok());
  ASSERT_TRUE((*w)->Apply(FileEnd{}).ok());
  EXPECT_EQ((*w)->Apply(FileStart{"./f", 1}).code(), absl::StatusCode::kInvalidArgument);  // twice
  EXPECT_EQ((*w)->Finish().code(), absl::StatusCode::kDataLoss);  // no BackupEnd
  ASSERT_TRUE((*w)->Apply(BackupEnd{}).ok());
  EXPECT_EQ((*w)->Apply(BackupEnd{}).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE((*w)->Finish().ok());
}

TEST(BackupWriter, NeverFollowsASymlinkInTheTarget) {
  TempDir dir;
  TempDir outside;
  ASSERT_EQ(mkdir(dir.Join("t").c_str(), 0700), 0);
  ASSERT_EQ(symlink(outside.path().c_str(), dir.Join("t/link").c_str()), 0);
  auto w = BackupWriter::Open(dir.Join("t"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Apply(Header()).ok());
  EXPECT_EQ((*w)->Apply(FileStart{"link/x", 1}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walrep::aiondb
