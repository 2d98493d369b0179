#include "engine/durable_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string TempDir() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/durable.XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

TEST(DurableFileTest, ReplacesWithMode0600AndTheGivenOwner) {
  const std::string dir = TempDir();
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
  const std::string dir = TempDir();
  const std::string victim = dir + "/victim";
  ASSERT_TRUE(WriteFileDurably(victim, "keep", *OwnerOf(dir)).ok());
  ASSERT_EQ(symlink(victim.c_str(), (dir + "/f.walrep-tmp").c_str()), 0);
  ASSERT_TRUE(WriteFileDurably(dir + "/f", "new", *OwnerOf(dir)).ok());
  EXPECT_EQ(*ReadWholeFile(victim), "keep");
  EXPECT_EQ(*ReadWholeFile(dir + "/f"), "new");
}

TEST(DurableFileTest, RemoveIsFineWhenAbsent) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileDurably(dir + "/s", "", *OwnerOf(dir)).ok());
  EXPECT_TRUE(RemoveFileDurably(dir + "/s").ok());
  EXPECT_TRUE(RemoveFileDurably(dir + "/s").ok());
  EXPECT_TRUE(absl::IsNotFound(ReadWholeFile(dir + "/s").status()));
}

}  // namespace
}  // namespace walrep
