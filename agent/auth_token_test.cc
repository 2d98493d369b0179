#include "agent/auth_token.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string WriteToken(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::string tmp = path + ".tmp";
  { std::ofstream(tmp) << text; }
  chmod(tmp.c_str(), mode);
  rename(tmp.c_str(), path.c_str());  // a new inode, as a rotation writes it
  return path;
}

TEST(AuthTokenFileTest, RereadsWhenTheFileChanges) {
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/token";
  WriteToken(path, "first\n");
  auto f = AuthTokenFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Current(), "first");
  WriteToken(path, "second-token\n");
  EXPECT_EQ((*f)->Current(), "second-token");
  // A rewrite caught half-way keeps the last good token.
  WriteToken(path, "");
  EXPECT_EQ((*f)->Current(), "second-token");
  WriteToken(path, "opened-up", 0644);
  EXPECT_EQ((*f)->Current(), "second-token");
  WriteToken(path, "third");
  EXPECT_EQ((*f)->Current(), "third");
}

TEST(AuthTokenFileTest, RefusesABadFileAtStart) {
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/open-token";
  WriteToken(path, "x", 0644);
  EXPECT_FALSE(AuthTokenFile::Open(path).ok());
  EXPECT_FALSE(AuthTokenFile::Open(path + ".missing").ok());
}

}  // namespace
}  // namespace walrep
