// The aiondb dialect's small agent-side rules: AUTO's server_version test and the data
// directory's dialect marker.
#include "agent/aiondb_replica.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(AiondbDialect, AutoDetectsOnlyAnExplicitAiondbServerVersion) {
  EXPECT_TRUE(LooksLikeAiondb("16.0 (aiondb 0.9.0)"));
  EXPECT_TRUE(LooksLikeAiondb("AionDB 1.2"));
  EXPECT_FALSE(LooksLikeAiondb("15.4 (Debian 15.4-1.pgdg120+1)"));
  EXPECT_FALSE(LooksLikeAiondb("16.2"));
  EXPECT_FALSE(LooksLikeAiondb(""));
}

TEST(AiondbDialect, DataDirectoryMarker) {
  std::string tmpl = std::string(std::getenv("TEST_TMPDIR")) + "/marker.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  auto before = IsAiondbDataDir(tmpl);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(*before);
  ASSERT_TRUE(MarkAiondbDataDir(tmpl).ok());
  auto after = IsAiondbDataDir(tmpl);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(*after);
}

}  // namespace
}  // namespace walrep
