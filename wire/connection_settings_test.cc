// How each ssl*/TCP key's value is read, libpq's defaults included.
#include "wire/connection_settings.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

TlsOptions Tls(const std::string& conninfo) {
  return TlsOptionsOf(*ConnInfo::Parse(conninfo), SslMode::kVerifyFull);
}

TEST(TlsOptionsOfTest, SniAsLibpq) {
  EXPECT_TRUE(Tls("").sni);  // libpq's default is "1"
  EXPECT_TRUE(Tls("sslsni=1").sni);
  EXPECT_FALSE(Tls("sslsni=0").sni);
  EXPECT_FALSE(Tls("sslsni=''").sni);  // libpq tests the first character for '1'
  EXPECT_FALSE(Tls("sslsni=yes").sni);
}

TEST(TlsOptionsOfTest, CompressionAsLibpq) {
  EXPECT_FALSE(Tls("").compression);  // default "0"
  EXPECT_FALSE(Tls("sslcompression=0").compression);
  EXPECT_TRUE(Tls("sslcompression=1").compression);
  EXPECT_TRUE(Tls("sslcompression=''").compression);  // only a leading '0' turns it off
}

TEST(TlsOptionsOfTest, FilesAndProtocolBounds) {
  TlsOptions o =
      Tls("sslrootcert=/r sslcert=/c sslkey=/k sslpassword=pw sslcrl=/crl sslcrldir=/crl.d "
          "ssl_max_protocol_version=TLSv1.2");
  EXPECT_EQ(o.sslmode, SslMode::kVerifyFull);
  EXPECT_EQ(o.root_cert, "/r");
  EXPECT_EQ(o.cert, "/c");
  EXPECT_EQ(o.key, "/k");
  EXPECT_EQ(o.key_password, "pw");
  EXPECT_EQ(o.crl_file, "/crl");
  EXPECT_EQ(o.crl_dir, "/crl.d");
  EXPECT_EQ(o.min_protocol, "TLSv1.2");  // libpq's default minimum
  EXPECT_EQ(o.max_protocol, "TLSv1.2");
  EXPECT_EQ(Tls("ssl_min_protocol_version=''").min_protocol, "");  // no minimum, as libpq
}

TEST(TcpOptionsOfTest, UnsetMeansTheOsDefault) {
  TcpOptions o = TcpOptionsOf(*ConnInfo::Parse(""));
  EXPECT_TRUE(o.keepalives);
  EXPECT_FALSE(o.keepalives_idle.has_value());
  EXPECT_FALSE(o.keepalives_interval.has_value());
  EXPECT_FALSE(o.keepalives_count.has_value());
  EXPECT_FALSE(o.user_timeout_ms.has_value());
  TcpOptions set = TcpOptionsOf(
      *ConnInfo::Parse("keepalives=0 keepalives_idle=' 9' keepalives_interval=2 keepalives_count=3 "
                       "tcp_user_timeout=-1"));
  EXPECT_FALSE(set.keepalives);
  EXPECT_EQ(set.keepalives_idle, 9);
  EXPECT_EQ(set.keepalives_interval, 2);
  EXPECT_EQ(set.keepalives_count, 3);
  EXPECT_EQ(set.user_timeout_ms, -1);  // ApplyTcpOptions raises it to 0, as libpq
}

}  // namespace
}  // namespace walrep
