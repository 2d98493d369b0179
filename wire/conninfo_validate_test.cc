// ConnInfo::Validate: what libpq refuses at connect time is refused here, by name and with
// libpq's message — ports, timeouts, keepalives (and where libpq ignores them), TCP user
// timeout, gssencmode, load_balance_hosts, SSL protocol versions and negotiation,
// sslmode, service, and the host/port endpoint lists.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/conninfo.h"
#include "wire/conninfo_test_util.h"

namespace walrep::conninfo_testing {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace walrep::conninfo_testing
