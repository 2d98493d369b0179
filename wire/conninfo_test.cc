#include "wire/conninfo.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

// Validate() refuses what libpq refuses at connect time, with libpq's message.
std::string ValidateError(absl::string_view conninfo) {
  absl::StatusOr<ConnInfo> info = ConnInfo::Parse(conninfo);
  if (!info.ok()) return absl::StrCat("parse: ", info.status().message());
  absl::Status st = info->Validate();
  if (!st.ok()) {
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << conninfo;
  }
  return std::string(st.message());
}

TEST(ConnInfoValidateTest, EmptyIntegersAreInvalidAsInLibpq) {
  EXPECT_EQ(ValidateError("connect_timeout=''"),
            "invalid integer value \"\" for connection option \"connect_timeout\"");
  EXPECT_EQ(ValidateError("keepalives=''"),
            "invalid integer value \"\" for connection option \"keepalives\"");
}

TEST(ConnInfoValidateTest, Keepalives) {
  EXPECT_EQ(ValidateError("keepalives=1 keepalives_idle=30 keepalives_interval=5 "
                          "keepalives_count=3 tcp_user_timeout=1500"),
            "");
  EXPECT_EQ(ValidateError("keepalives=' 1 '"), "");
  EXPECT_EQ(ValidateError("keepalives=2"), "");  // any non-zero value means on
  EXPECT_EQ(ValidateError("keepalives=yes"),
            "invalid integer value \"yes\" for connection option \"keepalives\"");
  EXPECT_EQ(ValidateError("keepalives=99999999999"),
            "invalid integer value \"99999999999\" for connection option \"keepalives\"");
  EXPECT_EQ(ValidateError("keepalives_interval=5s"),
            "invalid integer value \"5s\" for connection option \"keepalives_interval\"");
  EXPECT_EQ(ValidateError("keepalives_count=-"),
            "invalid integer value \"-\" for connection option \"keepalives_count\"");
}

// libpq documents 0 as "the system default" but passes it to setsockopt, which Linux
// refuses, so libpq cannot connect with it: neither can walrep, and it says why up front.
TEST(ConnInfoValidateTest, KeepaliveValuesLinuxRefuses) {
  EXPECT_THAT(ValidateError("keepalives_idle=0"),
              HasSubstr("invalid keepalives_idle value: \"0\": setsockopt(TCP_KEEPIDLE) "
                        "accepts 1 to 32767"));
  EXPECT_THAT(ValidateError("keepalives_idle=-5"), HasSubstr("setsockopt(TCP_KEEPIDLE)"));
  EXPECT_EQ(ValidateError("keepalives_idle=32767"), "");
  EXPECT_THAT(ValidateError("keepalives_idle=32768"), HasSubstr("TCP_KEEPIDLE"));
  EXPECT_THAT(ValidateError("keepalives_interval=0"), HasSubstr("setsockopt(TCP_KEEPINTVL)"));
  EXPECT_EQ(ValidateError("keepalives_count=127"), "");
  EXPECT_THAT(ValidateError("keepalives_count=128"),
              HasSubstr("setsockopt(TCP_KEEPCNT) accepts 1 to 127"));
}

TEST(ConnInfoValidateTest, KeepaliveSettingsAreIgnoredWhereLibpqIgnoresThem) {
  // keepalives=0: libpq never reads the other keepalive settings.
  EXPECT_EQ(ValidateError("keepalives=0 keepalives_idle=abc keepalives_count=0"), "");
  // Unix sockets: libpq sets no TCP option at all.
  EXPECT_EQ(ValidateError("host=/run/postgresql keepalives_idle=0 tcp_user_timeout=x"), "");
  // ...but one TCP host in the list is enough for them to matter.
  EXPECT_THAT(ValidateError("host=/run/postgresql,db1 keepalives_idle=0"),
              HasSubstr("TCP_KEEPIDLE"));
  EXPECT_EQ(ValidateError("host=/tmp hostaddr=127.0.0.1 keepalives_idle=abc"),
            "invalid integer value \"abc\" for connection option \"keepalives_idle\"");
}

TEST(ConnInfoValidateTest, TcpUserTimeout) {
  EXPECT_EQ(ValidateError("tcp_user_timeout=0"), "");
  EXPECT_EQ(ValidateError("tcp_user_timeout=-3"), "");  // raised to 0 (system default)
  EXPECT_EQ(ValidateError("tcp_user_timeout=2.5"),
            "invalid integer value \"2.5\" for connection option \"tcp_user_timeout\"");
  // walrep applies it even with keepalives=0 (libpq would skip it), so it is checked.
  EXPECT_EQ(ValidateError("keepalives=0 tcp_user_timeout=abc"),
            "invalid integer value \"abc\" for connection option \"tcp_user_timeout\"");
}

TEST(ConnInfoValidateTest, GssEncMode) {
  EXPECT_EQ(ValidateError("gssencmode=disable"), "");
  EXPECT_EQ(ValidateError("gssencmode=prefer"), "");
  EXPECT_EQ(ValidateError("gssencmode=require"),
            "gssencmode=require: walrep is built without GSSAPI");
  EXPECT_EQ(ValidateError("gssencmode=''"), "invalid gssencmode value: \"\"");
  EXPECT_EQ(ValidateError("gssencmode=yes"), "invalid gssencmode value: \"yes\"");
}

TEST(ConnInfoValidateTest, LoadBalanceHosts) {
  EXPECT_EQ(ValidateError("load_balance_hosts=disable"), "");
  EXPECT_EQ(ValidateError("host=a,b,c load_balance_hosts=random"), "");
  EXPECT_EQ(ValidateError("load_balance_hosts=Random"),
            "invalid load_balance_hosts value: \"Random\"");
  EXPECT_EQ(ValidateError("load_balance_hosts=''"), "invalid load_balance_hosts value: \"\"");
}

TEST(ConnInfoValidateTest, SslProtocolVersions) {
  EXPECT_EQ(ValidateError("ssl_min_protocol_version=tlsv1.3 ssl_max_protocol_version=TLSv1.3"),
            "");
  EXPECT_EQ(ValidateError("ssl_min_protocol_version='' ssl_max_protocol_version=TLSv1"), "");
  EXPECT_EQ(ValidateError("ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.2"),
            "");
  EXPECT_EQ(ValidateError("ssl_min_protocol_version=TLSv1.4"),
            "invalid ssl_min_protocol_version value: \"TLSv1.4\"");
  EXPECT_EQ(ValidateError("ssl_max_protocol_version=SSLv3"),
            "invalid ssl_max_protocol_version value: \"SSLv3\"");
  EXPECT_EQ(ValidateError("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"),
            "invalid SSL protocol version range");
  EXPECT_EQ(ValidateError("ssl_min_protocol_version=TLSv1.1 ssl_max_protocol_version=TLSv1"),
            "invalid SSL protocol version range");
}

TEST(ConnInfoValidateTest, SslNegotiationAndSystemRoots) {
  EXPECT_EQ(ValidateError("sslnegotiation=postgres"), "");
  EXPECT_THAT(ValidateError("sslnegotiation=direct sslmode=require"),
              HasSubstr("sslnegotiation=direct: walrep always negotiates TLS with an SSLRequest"));
  EXPECT_EQ(ValidateError("sslnegotiation=tls"), "invalid sslnegotiation value: \"tls\"");
  EXPECT_EQ(ValidateError("sslrootcert=system"), "");  // sslmode defaults to verify-full
  EXPECT_EQ(ValidateError("sslrootcert=system sslmode=verify-full"), "");
  EXPECT_EQ(ValidateError("sslrootcert=system sslmode=require"),
            "weak sslmode \"require\" may not be used with sslrootcert=system (use "
            "\"verify-full\")");
}

TEST(ConnInfoValidateTest, EmptySslmodeIsInvalidAsInLibpq) {
  ConnInfo info = MustParse("sslmode=''");
  ASSERT_TRUE(info.ApplyDefaults(Environment{}).ok());
  EXPECT_EQ(info.sslmode(), "");  // not replaced by the default, as libpq keeps it
  EXPECT_EQ(info.Validate().message(), "invalid sslmode value: \"\"");
}

TEST(ConnInfoValidateTest, ServiceIsRefusedByName) {
  EXPECT_THAT(ValidateError("service=prod"),
              HasSubstr("connection service \"prod\" requested, but walrep does not read "
                        "pg_service.conf"));
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
