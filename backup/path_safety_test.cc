#include "backup/path_safety.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string Join(const std::vector<std::string>& v) { return JoinPath(v); }

TEST(SplitMemberPathTest, AcceptsAndNormalizes) {
  EXPECT_EQ(Join(*SplitMemberPath("base/1/1259")), "base/1/1259");
  EXPECT_EQ(Join(*SplitMemberPath("./pg_wal/archive_status/")), "pg_wal/archive_status");
  EXPECT_EQ(Join(*SplitMemberPath("a//b/./c")), "a/b/c");
  EXPECT_EQ(Join(*SplitMemberPath("..foo/bar..")), "..foo/bar..");
}

TEST(SplitMemberPathTest, RejectsUnsafe) {
  for (absl::string_view bad :
       {absl::string_view(""), absl::string_view("."), absl::string_view("./"),
        absl::string_view("/etc/passwd"), absl::string_view("../x"), absl::string_view("a/../b"),
        absl::string_view("a/.."), absl::string_view("a\0b", 3)}) {
    auto r = SplitMemberPath(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(SplitMemberPath(std::string(kMaxMemberPathBytes + 1, 'a')).ok());
  EXPECT_FALSE(SplitMemberPath(std::string(kMaxComponentBytes + 1, 'a')).ok());
  EXPECT_TRUE(absl::StrContains(SplitMemberPath("x/../y").status().message(), "x/../y"));
}

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(std::getenv("TEST_TMPDIR")) + "/ps.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    bool created;
    root_ = *OpenOrCreateDir(dir_, &created);
  }
  std::string dir_;
  UniqueFd root_;
};

TEST_F(FsTest, WalkDirsCreatesAndRefusesSymlinks) {
  auto fd = WalkDirs(root_.get(), {"a", "b"}, /*create=*/true, "a/b");
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(symlink("/tmp", (dir_ + "/link").c_str()), 0);
  auto through = WalkDirs(root_.get(), {"link", "x"}, true, "link/x");
  EXPECT_EQ(through.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(WalkDirs(root_.get(), {"missing"}, false, "missing").ok());
}

TEST_F(FsTest, IsDirEmptyAndRemoveContents) {
  EXPECT_TRUE(*IsDirEmpty(root_.get(), dir_));
  std::string outside = dir_ + "_outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(close(open((outside + "/keepme").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ASSERT_TRUE(WalkDirs(root_.get(), {"d", "e"}, true, "d/e").ok());
  ASSERT_EQ(close(open((dir_ + "/d/e/f").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ASSERT_EQ(close(open((dir_ + "/marker").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ASSERT_EQ(symlink(outside.c_str(), (dir_ + "/d/out").c_str()), 0);
  EXPECT_FALSE(*IsDirEmpty(root_.get(), dir_));
  ASSERT_TRUE(RemoveDirContents(root_.get(), "marker", dir_).ok());
  EXPECT_EQ(access((dir_ + "/marker").c_str(), F_OK), 0);
  EXPECT_NE(access((dir_ + "/d").c_str(), F_OK), 0);
  EXPECT_EQ(access((outside + "/keepme").c_str(), F_OK), 0);  // link removed, not followed
}

}  // namespace
}  // namespace walrep
