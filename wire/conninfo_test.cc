#include "wire/conninfo.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/conninfo_test_util.h"

namespace walrep::conninfo_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

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
  EXPECT_THAT(ConnInfo::Parse("krbsrvname=postgres").status().message(),
              HasSubstr("\"krbsrvname\" is not supported by walrep (walrep is built without "
                        "GSSAPI)"));
  EXPECT_THAT(ConnInfo::Parse("postgresql://h?sslcertmode=require").status().message(),
              HasSubstr("\"sslcertmode\" is not supported"));
  EXPECT_THAT(ConnInfo::Parse("require_auth=scram-sha-256").status().message(),
              HasSubstr("\"require_auth\" is not supported"));
  // Implemented since: accepted.
  EXPECT_TRUE(ConnInfo::Parse("sslcrldir=/x load_balance_hosts=random").ok());
}

// Every key walrep accepts is implemented (wire/conninfo_keys.md says how); a new one
// must be added here on purpose.
TEST(ConnInfoParseTest, AcceptedKeywords) {
  EXPECT_THAT(ConnInfo::Keywords(),
              ElementsAre("service", "user", "password", "passfile", "channel_binding",
                          "connect_timeout", "dbname", "host", "hostaddr", "port",
                          "client_encoding", "options", "application_name",
                          "fallback_application_name", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                          "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey",
                          "sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni",
                          "requirepeer", "ssl_min_protocol_version",
                          "ssl_max_protocol_version", "gssencmode", "replication",
                          "target_session_attrs", "load_balance_hosts"));
}

// Every keyword of libpq 17's PQconninfoOptions is either accepted or refused by name as
// unsupported — none is "invalid", none silently dropped.
TEST(ConnInfoParseTest, EveryLibpq17KeywordIsAcceptedOrRefusedByName) {
  const char* kLibpq17[] = {
      "service", "user", "password", "passfile", "channel_binding", "connect_timeout",
      "dbname", "host", "hostaddr", "port", "client_encoding", "options", "application_name",
      "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "sslmode", "sslnegotiation", "sslcompression",
      "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
      "sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version",
      "ssl_max_protocol_version", "gssencmode", "krbsrvname", "gsslib", "gssdelegation",
      "replication", "target_session_attrs", "load_balance_hosts"};
  const std::vector<std::string>& accepted = ConnInfo::Keywords();
  for (const char* k : kLibpq17) {
    absl::StatusOr<ConnInfo> info = ConnInfo::Parse(absl::StrCat(k, "=x"));
    if (std::find(accepted.begin(), accepted.end(), k) != accepted.end()) {
      EXPECT_TRUE(info.ok()) << k << ": " << info.status();
    } else {
      EXPECT_THAT(info.status().message(),
                  HasSubstr(absl::StrCat("\"", k, "\" is not supported by walrep (")))
          << k;
    }
  }
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

TEST(ConnInfoDefaultsTest, NewerKeywordsComeFromTheirEnvironmentVariables) {
  Environment env = TestEnv();
  env.vars = {{"PGSSLCRLDIR", "/etc/crl.d"},
              {"PGLOADBALANCEHOSTS", "random"},
              {"PGSSLMINPROTOCOLVERSION", "TLSv1.3"},
              {"PGKRBSRVNAME", "ignored"},  // an unsupported key's variable is not read
              {"PGGSSENCMODE", "prefer"}};
  ConnInfo info = MustParse("");
  ASSERT_TRUE(info.ApplyDefaults(env).ok());
  EXPECT_EQ(info.Get("sslcrldir"), "/etc/crl.d");
  EXPECT_EQ(info.Get("load_balance_hosts"), "random");
  EXPECT_EQ(info.Get("ssl_min_protocol_version"), "TLSv1.3");
  EXPECT_EQ(info.Get("gssencmode"), "prefer");
  EXPECT_FALSE(info.IsSet("krbsrvname"));
  EXPECT_TRUE(info.Validate().ok());
}

TEST(ConnInfoDefaultsTest, SystemRootsMakeVerifyFullTheDefault) {
  ConnInfo info = MustParse("sslrootcert=system");
  ASSERT_TRUE(info.ApplyDefaults(TestEnv()).ok());
  EXPECT_EQ(info.sslmode(), "verify-full");
  Environment env = TestEnv();
  env.vars = {{"PGSSLMODE", "require"}};  // an explicit (environment) mode is kept
  ConnInfo weak = MustParse("sslrootcert=system");
  ASSERT_TRUE(weak.ApplyDefaults(env).ok());
  EXPECT_EQ(weak.sslmode(), "require");
  EXPECT_FALSE(weak.Validate().ok());
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

}  // namespace
}  // namespace walrep::conninfo_testing
