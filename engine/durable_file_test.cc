#include "engine/durable_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

TEST(DurableFileTest, ReplacesWithMode0600AndTheGivenOwner) {
  const testing::TempDir tmp;
  const std::string& dir = tmp.path();
  const std::string path = dir + "/f.conf";
  FileOwner owner{65534, 65534};  // nobody/nogroup: what root writes for another user
  if (geteuid() != 0) owner = *OwnerOf(dir);
  ASSERT_TRUE(WriteFileDurably(path, "one\n", owner).ok());
  ASSERT_TRUE(WriteFileDurably(path, "two\n", owner).ok());
  EXPECT_EQ(*ReadWholeFile(path), "two\n");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  EXPECT_EQ(st.st_uid, owner.uid);
  EXPECT_EQ(st.st_gid, owner.gid);
  EXPECT_NE(stat((path + ".walrep-tmp").c_str(), &st), 0);
}

TEST(DurableFileTest, AStaleTempSymlinkIsNotFollowed) {
  const testing::TempDir tmp;
  const std::string& dir = tmp.path();
  const std::string victim = dir + "/victim";
  ASSERT_TRUE(WriteFileDurably(victim, "keep", *OwnerOf(dir)).ok());
  ASSERT_EQ(symlink(victim.c_str(), (dir + "/f.walrep-tmp").c_str()), 0);
  ASSERT_TRUE(WriteFileDurably(dir + "/f", "new", *OwnerOf(dir)).ok());
  EXPECT_EQ(*ReadWholeFile(victim), "keep");
  EXPECT_EQ(*ReadWholeFile(dir + "/f"), "new");
}

TEST(DurableFileTest, RemoveIsFineWhenAbsent) {
  const testing::TempDir tmp;
  const std::string& dir = tmp.path();
  ASSERT_TRUE(WriteFileDurably(dir + "/s", "", *OwnerOf(dir)).ok());
  EXPECT_TRUE(RemoveFileDurably(dir + "/s").ok());
  EXPECT_TRUE(RemoveFileDurably(dir + "/s").ok());
  EXPECT_TRUE(absl::IsNotFound(ReadWholeFile(dir + "/s").status()));
}

}  // namespace
}  // namespace walrep
