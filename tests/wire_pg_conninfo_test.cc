// Conninfo keys against a real PostgreSQL 15 server: requirepeer over its Unix socket
// (whose peer is the `postgres` OS user), sslcrl/sslcrldir with CRLs made by the openssl
// CLI from the fixture's CA, and tcp_user_timeout/keepalives on a live connection.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/pg_fixture.h"
#include "wire/connection.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using testing::PgPrimary;
using testing::PgPrimaryOptions;
using testing::RunShell;
using testing::ShellQuote;

ConnectionOptions Options() {
  ConnectionOptions o;
  o.env = Environment{};  // hermetic: no PG* variables, no ~/.pgpass
  o.env.os_user = "nobody";
  o.io_timeout = absl::Seconds(20);
  return o;
}

absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
    const std::string& conninfo, const ConnectionOptions& options = Options()) {
  absl::StatusOr<ConnInfo> info = ConnInfo::Parse(conninfo);
  if (!info.ok()) return info.status();
  return PgConnection::Connect(*info, options);
}

class WirePgConnInfoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PgPrimaryOptions o;
    o.tls = true;
    auto pg = PgPrimary::Start(o);
    EXPECT_TRUE(pg.ok()) << pg.status();
    if (pg.ok()) pg_ = pg->release();
    crl_dir_ = MakeCrls();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
    if (!crl_dir_.empty()) (void)RunShell("rm -rf " + ShellQuote(crl_dir_));
  }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_FALSE(crl_dir_.empty());
  }

  // With the openssl CLI, from the fixture's CA: clean.crl (revokes nothing), then
  // revoked.crl (revokes the server certificate), and a hashed directory of each.
  static std::string MakeCrls() {
    if (pg_ == nullptr) return "";
    char tmpl[] = "/tmp/walrep-crl.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return "";
    const std::string dir = tmpl;
    const std::string tls = pg_->root_dir() + "/tls";
    const std::string ca =
        absl::StrCat("openssl ca -config ca.cnf -keyfile ", ShellQuote(tls + "/ca.key"), " -cert ",
                     ShellQuote(tls + "/ca.crt"), " ");
    auto out = RunShell(absl::StrCat(
        "set -e; cd ", ShellQuote(dir), "; touch index.txt; echo 01 > crlnumber; ",
        "printf '[ca]\\ndefault_ca = test_ca\\n[test_ca]\\ndatabase = index.txt\\n",
        "crlnumber = crlnumber\\ndefault_md = sha256\\ndefault_crl_days = 1\\n' > ca.cnf; ", ca,
        "-gencrl -out clean.crl 2>/dev/null; ", ca, "-revoke ", ShellQuote(tls + "/server.crt"),
        " 2>/dev/null; ", ca, "-gencrl -out revoked.crl 2>/dev/null; ",
        "mkdir clean.d revoked.d; cp clean.crl clean.d/; cp revoked.crl revoked.d/; ",
        "openssl rehash clean.d revoked.d"));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? dir : "";
  }

  static std::string Verified(const std::string& extra) {
    return pg_->ReplConnInfo(absl::StrCat(
        "host=localhost sslmode=verify-full sslrootcert=", pg_->ca_cert_path(), " ", extra));
  }

  static PgPrimary* pg_;
  static std::string crl_dir_;
};
PgPrimary* WirePgConnInfoTest::pg_ = nullptr;
std::string WirePgConnInfoTest::crl_dir_;

TEST_F(WirePgConnInfoTest, RevokedServerCertificateIsRefused) {
  for (const std::string& key : {std::string("sslcrl=") + crl_dir_ + "/revoked.crl",
                                 std::string("sslcrldir=") + crl_dir_ + "/revoked.d"}) {
    SCOPED_TRACE(key);
    auto conn = Connect(Verified(key));
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.status().code(), absl::StatusCode::kFailedPrecondition) << conn.status();
    EXPECT_THAT(conn.status().message(), HasSubstr("certificate revoked"));
  }
}

TEST_F(WirePgConnInfoTest, CrlThatDoesNotRevokeTheServerCertificateIsAccepted) {
  for (const std::string& key : {std::string("sslcrl=") + crl_dir_ + "/clean.crl",
                                 std::string("sslcrldir=") + crl_dir_ + "/clean.d"}) {
    SCOPED_TRACE(key);
    auto conn = Connect(Verified(key));
    ASSERT_TRUE(conn.ok()) << conn.status();
    EXPECT_TRUE((*conn)->is_tls());
  }
}

TEST_F(WirePgConnInfoTest, CrlIsNotConsultedWithoutVerification) {
  auto conn =
      Connect(pg_->ReplConnInfo(absl::StrCat("sslmode=require sslcrl=", crl_dir_, "/revoked.crl")));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE((*conn)->is_tls());
}

// The server's Unix socket belongs to the `postgres` OS user; pg_hba.conf trusts local
// connections ("local all all trust"), which are not replication connections.
TEST_F(WirePgConnInfoTest, RequirePeerOnTheUnixSocket) {
  ConnectionOptions options = Options();
  options.replication = false;
  const std::string base = absl::StrCat("host=", pg_->socket_dir(), " port=", pg_->port(),
                                        " user=postgres dbname=postgres");
  auto ok = Connect(base + " requirepeer=postgres", options);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_FALSE((*ok)->is_tls());

  auto wrong = Connect(base + " requirepeer=root", options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("requirepeer specifies \"root\", but actual peer user name is "
                        "\"postgres\""));
  // As in libpq, sslmode does not apply to a Unix socket (no SSLRequest is sent there)...
  auto plain = Connect(base + " sslmode=require requirepeer=postgres", options);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->is_tls());
  // ...and requirepeer does not apply to TCP.
  auto tcp = Connect(pg_->ReplConnInfo("requirepeer=root"));
  EXPECT_TRUE(tcp.ok()) << tcp.status();
}

TEST_F(WirePgConnInfoTest, TcpSettingsOnALiveConnection) {
  auto conn = Connect(pg_->ReplConnInfo("tcp_user_timeout=4000 keepalives_idle=25"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_EQ(getsockopt((*conn)->socket_fd(), IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &len), 0);
  EXPECT_EQ(v, 4000);
  ASSERT_EQ(getsockopt((*conn)->socket_fd(), IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
  EXPECT_EQ(v, 25);
}

}  // namespace
}  // namespace walrep
