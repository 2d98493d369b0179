#include "wire/conninfo.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/pgpass.h"

namespace walrep {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

ConnInfo MustParse(absl::string_view s) {
  absl::StatusOr<ConnInfo> info = ConnInfo::Parse(s);
  EXPECT_TRUE(info.ok()) << s << ": " << info.status();
  return info.ok() ? *std::move(info) : ConnInfo();
}

TEST(ConnInfoParseTest, KeywordValueBasics) {
  ConnInfo info = MustParse("  host = db1 port=5433\tuser=rep dbname='my db' ");
  EXPECT_EQ(info.host(), "db1");
  EXPECT_EQ(info.port(), "5433");
  EXPECT_EQ(info.user(), "rep");
  EXPECT_EQ(info.dbname(), "my db");
  EXPECT_THAT(info.SetKeywords(), ElementsAre("user", "dbname", "host", "port"));
}

TEST(ConnInfoParseTest, QuotingAndEscapes) {
  EXPECT_EQ(MustParse(R"(dbname='it\'s')").dbname(), "it's");
  EXPECT_EQ(MustParse(R"(dbname=a\ b)").dbname(), "a b");
  EXPECT_EQ(MustParse(R"(dbname=a\\b)").dbname(), "a\\b");
  EXPECT_EQ(MustParse(R"(dbname='a'port=1)").port(), "1");
  EXPECT_EQ(MustParse("dbname=a=b").dbname(), "a=b");
  // A trailing backslash escapes nothing and disappears, as in libpq.
  EXPECT_EQ(MustParse("host=db1\\").host(), "db1");
}

TEST(ConnInfoParseTest, EmptyValuesAreSet) {
  ConnInfo info = MustParse("host='' user='' dbname=x");
  EXPECT_TRUE(info.IsSet("host"));
  EXPECT_EQ(info.host(), "");
  EXPECT_TRUE(MustParse("host=").IsSet("host"));
  // Blanks after '=' are skipped, so an unquoted empty value swallows the next word,
  // exactly as in libpq.
  EXPECT_EQ(MustParse("host= user=x").host(), "user=x");
  EXPECT_TRUE(info.IsSet("user"));
  EXPECT_FALSE(info.IsSet("port"));
}

TEST(ConnInfoParseTest, LastDuplicateWins) {
  EXPECT_EQ(MustParse("host=a host=b").host(), "b");
}

TEST(ConnInfoParseTest, LegacySslSpellings) {
  EXPECT_EQ(MustParse("requiressl=1").sslmode(), "require");
  EXPECT_EQ(MustParse("requiressl=0").sslmode(), "prefer");
  EXPECT_EQ(MustParse("postgresql://h?ssl=true").sslmode(), "require");
}

TEST(ConnInfoParseTest, SyntaxErrors) {
  EXPECT_THAT(ConnInfo::Parse("host db1").status().message(),
              HasSubstr("missing \"=\" after \"host\""));
  EXPECT_THAT(ConnInfo::Parse("host='db1").status().message(), HasSubstr("unterminated"));
  EXPECT_EQ(ConnInfo::Parse("host=db1 port").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConnInfoParseTest, UnknownAndUnsupportedKeywordsAreNamed) {
  absl::Status s = ConnInfo::Parse("host=db1 foo=bar").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("invalid connection option \"foo\""));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h?foo=1").status().message(),
              HasSubstr("\"foo\""));
  EXPECT_THAT(ConnInfo::Parse("sslcrldir=/x").status().message(),
              HasSubstr("\"sslcrldir\" is not supported"));
}

TEST(ConnInfoParseTest, EmbeddedNulIsRejectedNamingTheKeyword) {
  using std::string_literals::operator""s;
  absl::Status s = ConnInfo::Parse("host=db1 user=re\0p"s).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"user\""));
  EXPECT_THAT(s.message(), HasSubstr("NUL"));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h/d\0b"s).status().message(),
              HasSubstr("\"dbname\""));
  EXPECT_THAT(ConnInfo::Parse("ho\0st=x"s).status().message(), HasSubstr("NUL"));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h/%00").status().message(),
              HasSubstr("%00"));
}

TEST(ConnInfoUriTest, FullUri) {
  ConnInfo info =
      MustParse("postgresql://us%40er:p%3Aw@db1:5433/my%20db?application_name=wr&sslmode=require");
  EXPECT_EQ(info.user(), "us@er");
  EXPECT_EQ(info.password(), "p:w");
  EXPECT_EQ(info.host(), "db1");
  EXPECT_EQ(info.port(), "5433");
  EXPECT_EQ(info.dbname(), "my db");
  EXPECT_EQ(info.application_name(), "wr");
  EXPECT_EQ(info.sslmode(), "require");
}

TEST(ConnInfoUriTest, ShortSchemeAndEmptyParts) {
  ConnInfo info = MustParse("postgres://");
  EXPECT_TRUE(info.SetKeywords().empty());
  // An empty dbname stays unset so PGDATABASE can still apply.
  EXPECT_FALSE(MustParse("postgresql://h/").IsSet("dbname"));
}

TEST(ConnInfoUriTest, Ipv6AndMultipleHosts) {
  ConnInfo v6 = MustParse("postgresql://[2001:db8::1]:5433/db");
  EXPECT_EQ(v6.host(), "2001:db8::1");
  EXPECT_EQ(v6.port(), "5433");
  ConnInfo multi = MustParse("postgresql://h1:1,[::1],h3:3/db");
  EXPECT_EQ(multi.host(), "h1,::1,h3");
  EXPECT_EQ(multi.port(), "1,,3");
  EXPECT_FALSE(ConnInfo::Parse("postgresql://[::1").ok());
  EXPECT_FALSE(ConnInfo::Parse("postgresql://[]").ok());
  EXPECT_FALSE(ConnInfo::Parse("postgresql://[::1]x").ok());
}

TEST(ConnInfoUriTest, QueryParameterErrors) {
  EXPECT_THAT(ConnInfo::Parse("postgresql://h?sslmode").status().message(),
              HasSubstr("missing key/value separator"));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h?a=b=c").status().message(),
              HasSubstr("extra key/value separator"));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h?x=%zz").status().message(),
              HasSubstr("percent-encoded"));
  EXPECT_TRUE(ConnInfo::Parse("postgresql://h?sslmode=require&").ok());
}

TEST(ConnInfoValidateTest, ChecksValues) {
  EXPECT_TRUE(MustParse("sslmode=verify-full port=5432 connect_timeout=10").Validate().ok());
  EXPECT_THAT(MustParse("sslmode=bogus").Validate().message(), HasSubstr("sslmode"));
  EXPECT_THAT(MustParse("port=0").Validate().message(), HasSubstr("port"));
  EXPECT_THAT(MustParse("port=65536").Validate().message(), HasSubstr("port"));
  EXPECT_THAT(MustParse("port=54x").Validate().message(), HasSubstr("port"));
  EXPECT_THAT(MustParse("connect_timeout=ten").Validate().message(),
              HasSubstr("connect_timeout"));
  EXPECT_TRUE(MustParse("connect_timeout=' 10 '").Validate().ok());
  EXPECT_FALSE(MustParse("host=a,b port=1,2,3").Validate().ok());
}

TEST(ConnInfoValidateTest, Endpoints) {
  ConnInfo info = MustParse("host=a,b port=1,2");
  auto endpoints = info.Endpoints();
  ASSERT_TRUE(endpoints.ok());
  ASSERT_EQ(endpoints->size(), 2u);
  EXPECT_EQ((*endpoints)[1].host, "b");
  EXPECT_EQ((*endpoints)[1].port, 2);
  auto single = MustParse("").Endpoints();
  ASSERT_TRUE(single.ok());
  EXPECT_EQ((*single)[0].host, "localhost");
  EXPECT_EQ((*single)[0].port, 5432);
}

Environment TestEnv() {
  Environment env;
  env.os_user = "osuser";
  env.home_dir = "/nonexistent-home";
  return env;
}

TEST(ConnInfoDefaultsTest, BuiltInDefaults) {
  ConnInfo info = MustParse("");
  ASSERT_TRUE(info.ApplyDefaults(TestEnv()).ok());
  EXPECT_EQ(info.host(), "localhost");
  EXPECT_EQ(info.port(), "5432");
  EXPECT_EQ(info.user(), "osuser");
  EXPECT_EQ(info.dbname(), "osuser");
  EXPECT_EQ(info.sslmode(), "prefer");
  EXPECT_FALSE(info.has_password());
}

TEST(ConnInfoDefaultsTest, EnvironmentFillsOnlyUnsetKeys) {
  Environment env = TestEnv();
  env.vars = {{"PGHOST", "envhost"},   {"PGPORT", "6000"},
              {"PGUSER", "envuser"},   {"PGPASSWORD", "envpw"},
              {"PGSSLMODE", "require"}, {"PGAPPNAME", "envapp"},
              {"PGCONNECT_TIMEOUT", "7"}};
  ConnInfo info = MustParse("host=explicit user=''");
  ASSERT_TRUE(info.ApplyDefaults(env).ok());
  EXPECT_EQ(info.host(), "explicit");
  EXPECT_EQ(info.port(), "6000");
  // Set but empty: the environment does not apply, the built-in default does.
  EXPECT_EQ(info.user(), "osuser");
  EXPECT_EQ(info.dbname(), "osuser");
  EXPECT_EQ(info.password(), "envpw");
  EXPECT_EQ(info.sslmode(), "require");
  EXPECT_EQ(info.application_name(), "envapp");
  EXPECT_EQ(info.connect_timeout(), "7");
}

TEST(ConnInfoDefaultsTest, RequireSslEnvironmentAndService) {
  Environment env = TestEnv();
  env.vars = {{"PGREQUIRESSL", "1"}};
  ConnInfo info = MustParse("");
  ASSERT_TRUE(info.ApplyDefaults(env).ok());
  EXPECT_EQ(info.sslmode(), "require");
  ConnInfo service = MustParse("service=prod");
  EXPECT_EQ(service.ApplyDefaults(TestEnv()).code(), absl::StatusCode::kUnimplemented);
}

TEST(ConnInfoRedactionTest, NeverShowsPassword) {
  ConnInfo info = MustParse(
      "postgresql://rep:hunter2secret@db1/postgres?sslpassword=keysecret&application_name=a%20b");
  std::string shown = info.Redacted();
  EXPECT_THAT(shown, Not(HasSubstr("hunter2secret")));
  EXPECT_THAT(shown, Not(HasSubstr("keysecret")));
  EXPECT_THAT(shown, HasSubstr("password=********"));
  EXPECT_EQ(info.ToString(), shown);
  EXPECT_EQ(info.Get("password"), "");
  EXPECT_EQ(info.password(), "hunter2secret");
  // The rendering parses back to the same settings (the password replaced by the mask).
  ConnInfo again = MustParse(shown);
  EXPECT_EQ(again.host(), "db1");
  EXPECT_EQ(again.application_name(), "a b");
  EXPECT_EQ(again.password(), "********");
  EXPECT_EQ(again.SetKeywords(), info.SetKeywords());
}

TEST(ConnInfoRedactionTest, QuotesAwkwardValues) {
  ConnInfo info = MustParse(R"(dbname='it\'s a \\ db' host='')");
  ConnInfo again = MustParse(info.Redacted());
  EXPECT_EQ(again.dbname(), "it's a \\ db");
  EXPECT_TRUE(again.IsSet("host"));
}

// --- .pgpass

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
}  // namespace walrep
