#include "wire/pgpass.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/conninfo.h"
#include "wire/conninfo_test_util.h"

namespace walrep::conninfo_testing {
namespace {

using ::testing::HasSubstr;

TEST(PgpassTest, MatchingRules) {
  const std::string file =
      "# comment:*:*:*:nope\n"
      "db1:5432:app:rep:first\n"
      "db1:5432:app:rep:second\n"
      "*:*:*:other:wild\n"
      "db\\:2:5433:*:rep:esc\\:aped\\\\pw:ignored\r\n"
      "localhost:5432:postgres:rep:local\n";
  auto q = [](std::string host, std::string port, std::string db, std::string user) {
    return PgpassQuery{std::move(host), std::move(port), std::move(db), std::move(user)};
  };
  EXPECT_EQ(MatchPgpass(file, q("db1", "5432", "app", "rep")), "first");
  EXPECT_EQ(MatchPgpass(file, q("anything", "1", "x", "other")), "wild");
  EXPECT_EQ(MatchPgpass(file, q("db:2", "5433", "zz", "rep")), "esc:aped\\pw");
  // Empty host and port mean libpq's defaults: localhost, 5432.
  EXPECT_EQ(MatchPgpass(file, q("", "", "postgres", "rep")), "local");
  EXPECT_EQ(MatchPgpass(file, q("db1", "5432", "app", "nobody")), std::nullopt);
  EXPECT_EQ(MatchPgpass(file, q("db1", "5432", "", "rep")), std::nullopt);
  EXPECT_EQ(MatchPgpass("# comment:*:*:*:nope\n", q("# comment", "*", "x", "y")),
            std::nullopt);
  // A prefix of a field is not a match.
  EXPECT_EQ(MatchPgpass("db10:5432:app:rep:x\n", q("db1", "5432", "app", "rep")),
            std::nullopt);
}

class PgpassFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = tmp != nullptr ? tmp : "/tmp";
    path_ = absl::StrCat(dir_, "/pgpass-", getpid());
    std::ofstream(path_) << "db1:*:*:rep:filepw\n";
  }
  void TearDown() override { unlink(path_.c_str()); }

  std::string dir_;
  std::string path_;
};

TEST_F(PgpassFileTest, UsedWhenNoPasswordGiven) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  ConnInfo info = MustParse(absl::StrCat("host=db1 user=rep passfile=", path_));
  ASSERT_TRUE(info.ApplyDefaults(TestEnv()).ok());
  ASSERT_TRUE(info.ApplyPassfile(TestEnv()).ok());
  EXPECT_EQ(info.password(), "filepw");

  ConnInfo given = MustParse(absl::StrCat("host=db1 user=rep password=mine passfile=", path_));
  ASSERT_TRUE(given.ApplyPassfile(TestEnv()).ok());
  EXPECT_EQ(given.password(), "mine");
}

TEST_F(PgpassFileTest, PgpassfileEnvironmentAndHomeDefault) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  Environment env = TestEnv();
  env.vars = {{"PGPASSFILE", path_}};
  ConnInfo info = MustParse("host=db1 user=rep");
  ASSERT_TRUE(info.ApplyDefaults(env).ok());
  ASSERT_TRUE(info.ApplyPassfile(env).ok());
  EXPECT_EQ(info.password(), "filepw");

  // No passfile anywhere: ~/.pgpass, which does not exist here, is not an error.
  ConnInfo home = MustParse("host=db1 user=rep");
  ASSERT_TRUE(home.ApplyDefaults(TestEnv()).ok());
  EXPECT_TRUE(home.ApplyPassfile(TestEnv()).ok());
  EXPECT_FALSE(home.has_password());
}

TEST_F(PgpassFileTest, RefusedWhenGroupOrWorldAccessible) {
  ASSERT_EQ(chmod(path_.c_str(), 0640), 0);
  ConnInfo info = MustParse(absl::StrCat("host=db1 user=rep passfile=", path_));
  ASSERT_TRUE(info.ApplyDefaults(TestEnv()).ok());
  absl::Status s = info.ApplyPassfile(TestEnv());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("group or world access"));
  EXPECT_FALSE(info.has_password());
}

TEST_F(PgpassFileTest, RefusedWhenNotARegularFile) {
  auto found = LookupPgpass(dir_, PgpassQuery{"db1", "5432", "d", "rep"});
  EXPECT_EQ(found.status().code(), absl::StatusCode::kFailedPrecondition);
  auto missing = LookupPgpass(path_ + ".missing", PgpassQuery{"db1", "5432", "d", "rep"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::nullopt);
}

}  // namespace
}  // namespace walrep::conninfo_testing
