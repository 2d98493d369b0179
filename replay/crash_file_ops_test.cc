#include "replay/crash_file_ops.h"

#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

std::unique_ptr<File> Create(CrashFileOps& ops, const std::string& path) {
  auto f = ops.Open(path, FileOps::OpenMode::kCreateTruncate);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(CrashFileOpsTest, DataIsDurableOnlyAfterSync) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/f");
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  EXPECT_EQ(*ops.DurableContent("/d/f"), "");  // the name is durable, the bytes are not
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(3, "def").ok());
  EXPECT_EQ(*ops.DurableContent("/d/f"), "abc");
  EXPECT_EQ(*ops.FileSize("/d/f"), 6u);
}

TEST(CrashFileOpsTest, ATruncationIsDurableOnlyAfterSync) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/f");
  ASSERT_TRUE(f->WriteAt(0, "abcdef").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  ASSERT_TRUE(f->Truncate(2).ok());
  EXPECT_EQ(*ops.FileSize("/d/f"), 2u);
  EXPECT_EQ(*ops.DurableContent("/d/f"), "abcdef");
  ASSERT_TRUE(f->Sync().ok());
  EXPECT_EQ(*ops.DurableContent("/d/f"), "ab");
  auto ro = ops.Open("/d/f", FileOps::OpenMode::kRead);
  ASSERT_TRUE(ro.ok());
  EXPECT_FALSE((*ro)->Truncate(0).ok()) << "read-only";
}

TEST(CrashFileOpsTest, ANameIsDurableOnlyAfterTheDirectorySync) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/f");
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(f->Sync().ok());
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/d/f").status()));
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  EXPECT_EQ(*ops.DurableContent("/d/f"), "abc");
}

TEST(CrashFileOpsTest, RenameAndRemoveAreDurableOnlyAfterTheDirectorySync) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/a");
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  ASSERT_TRUE(ops.Rename("/d/a", "/d/b").ok());
  EXPECT_TRUE(absl::IsNotFound(ops.FileSize("/d/a").status()));
  EXPECT_EQ(*ops.DurableContent("/d/a"), "abc");
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/d/b").status()));
  // The open descriptor follows the inode, not the name.
  ASSERT_TRUE(f->WriteAt(3, "d").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/d/a").status()));
  EXPECT_EQ(*ops.DurableContent("/d/b"), "abcd");
  ASSERT_TRUE(ops.Remove("/d/b").ok());
  EXPECT_EQ(*ops.DurableContent("/d/b"), "abcd");
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/d/b").status()));
}

TEST(CrashFileOpsTest, ADirectoryNeedsItsParentsSync) {
  CrashFileOps ops;
  ops.MakeDurableDir("/r");
  ASSERT_TRUE(ops.CreateDir("/r/w").ok());
  ASSERT_TRUE(ops.CreateDir("/r/w").ok());  // already there
  auto f = Create(ops, "/r/w/f");
  ASSERT_TRUE(f->WriteAt(0, "x").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/r/w").ok());
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/r/w/f").status()));
  ASSERT_TRUE(ops.SyncDir("/r").ok());
  EXPECT_EQ(*ops.DurableContent("/r/w/f"), "x");
}

TEST(CrashFileOpsTest, TheCutFailsThatOperationAndEveryLaterOne) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/f");  // op 1
  ops.set_cut(3);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());  // op 2
  EXPECT_FALSE(ops.powered_off());
  absl::Status cut = f->Sync();  // op 3
  EXPECT_EQ(cut.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(ops.powered_off());
  EXPECT_FALSE(ops.SyncDir("/d").ok());
  EXPECT_FALSE(ops.ListDir("/d").ok());
  EXPECT_EQ(ops.ops(), 5u);
  EXPECT_EQ(ops.OpName(3), "fdatasync /d/f");
  EXPECT_EQ(ops.OpName(2), "write /d/f");
  EXPECT_TRUE(absl::IsNotFound(ops.DurableContent("/d/f").status()));
}

TEST(CrashFileOpsTest, ATornSyncKeepsTheFirstDirtySectors) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto f = Create(ops, "/d/f");
  ASSERT_TRUE(f->WriteAt(0, std::string(4096, '0')).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  ASSERT_TRUE(f->WriteAt(600, std::string(1000, 'a')).ok());  // sectors 1-3
  ASSERT_TRUE(f->WriteAt(3000, std::string(10, 'b')).ok());   // sector 5
  ops.set_cut(ops.ops() + 1, /*torn_sectors=*/2);
  EXPECT_FALSE(f->Sync().ok());
  std::string want(4096, '0');
  want.replace(600, 1024 - 600 + 512, std::string(1024 - 600 + 512, 'a'));
  EXPECT_EQ(*ops.DurableContent("/d/f"), want);
}

TEST(CrashFileOpsTest, MaterializeAndRebootKeepOnlyTheDurableState) {
  CrashFileOps ops;
  ops.MakeDurableDir("/d");
  auto kept = Create(ops, "/d/kept");
  ASSERT_TRUE(kept->WriteAt(0, "durable").ok());
  ASSERT_TRUE(kept->Sync().ok());
  ASSERT_TRUE(ops.SyncDir("/d").ok());
  ASSERT_TRUE(kept->WriteAt(0, "volatile").ok());
  auto lost = Create(ops, "/d/lost");
  ASSERT_TRUE(lost->WriteAt(0, "x").ok());
  ASSERT_TRUE(lost->Sync().ok());
  TempDir tmp;
  ASSERT_TRUE(ops.Materialize(tmp.path()).ok());
  EXPECT_EQ(testing::List(tmp.Join("d")), std::vector<std::string>{"kept"});
  EXPECT_EQ(testing::ReadAll(tmp.Join("d/kept")), "durable");
  ops.Reboot();
  EXPECT_EQ(*ops.ListDir("/d"), std::vector<std::string>{"kept"});
  auto again = ops.Open("/d/kept", FileOps::OpenMode::kRead);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Size(), 7u);
}

}  // namespace
}  // namespace walrep
