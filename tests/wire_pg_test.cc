// PgConnection against a real PostgreSQL 15 primary: every authentication method the
// fixture can configure, TLS with certificate checks and channel binding, client
// certificates, and the replication commands the stream driver relies on.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/pg_fixture.h"
#include "wire/backend_error.h"
#include "wire/connection.h"
#include "wire/lsn.h"
#include "wire/replication_commands.h"
#include "wire/replication_messages.h"
#include "wire/replication_results.h"

namespace walrep {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::PgPrimary;
using testing::PgPrimaryOptions;

constexpr uint64_t kSegmentSize = uint64_t{16} << 20;

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

std::unique_ptr<PgPrimary> StartOrDie(PgPrimaryOptions options) {
  auto pg = PgPrimary::Start(std::move(options));
  EXPECT_TRUE(pg.ok()) << pg.status();
  return pg.ok() ? std::move(*pg) : nullptr;
}

// One plain scram-sha-256 primary and one TLS primary shared by the tests that only read.
class WirePgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    plain_ = StartOrDie({}).release();
    PgPrimaryOptions tls;
    tls.tls = true;
    // Client certificates for ordinary (non-replication) sessions of the replication role
    // to the postgres database; replication sessions keep scram-sha-256.
    tls.extra_hba = {absl::StrCat("hostssl postgres ", PgPrimary::kReplUser, " 127.0.0.1/32 cert")};
    tls_ = StartOrDie(tls).release();
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete tls_;
    plain_ = tls_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(plain_, nullptr);
    ASSERT_NE(tls_, nullptr);
  }
  static std::string TlsConnInfo(const std::string& extra) { return tls_->ReplConnInfo(extra); }

  static PgPrimary* plain_;
  static PgPrimary* tls_;
};
PgPrimary* WirePgTest::plain_ = nullptr;
PgPrimary* WirePgTest::tls_ = nullptr;

TEST_F(WirePgTest, ScramOverPlainTcp) {
  auto conn = Connect(plain_->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "SCRAM-SHA-256");
  EXPECT_FALSE((*conn)->is_tls());
  EXPECT_GE((*conn)->server_version_num(), 150000);
  EXPECT_LT((*conn)->server_version_num(), 160000);
  EXPECT_GT((*conn)->backend_pid(), 0);
  EXPECT_THAT((*conn)->redacted_conninfo(), ::testing::Not(HasSubstr(PgPrimary::kReplPassword)));
  auto app = plain_->Psql(absl::StrCat(
      "SELECT application_name FROM pg_stat_replication WHERE pid = ", (*conn)->backend_pid()));
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(*app, "walrep");
}

TEST_F(WirePgTest, WrongPasswordIsPermissionDenied) {
  auto conn = Connect(plain_->ReplConnInfo("password=wrong-one"));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kPermissionDenied) << conn.status();
  EXPECT_THAT(conn.status().message(),
              HasSubstr("password authentication failed for user \"replicator\""));
  EXPECT_THAT(conn.status().message(), ::testing::Not(HasSubstr("wrong-one")));
}

TEST_F(WirePgTest, SslRequireAgainstServerWithoutTls) {
  auto conn = Connect(plain_->ReplConnInfo("sslmode=require"));
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(conn.status().code(),
              AnyOf(absl::StatusCode::kUnavailable, absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(conn.status().message(),
              HasSubstr("server does not support SSL, but SSL was required"));
}

TEST_F(WirePgTest, SslPreferFallsBackToPlainText) {
  auto conn = Connect(plain_->ReplConnInfo("sslmode=prefer"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_FALSE((*conn)->is_tls());
}

TEST_F(WirePgTest, VerifyFullByNameAndByAddress) {
  for (const char* host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    auto conn = Connect(TlsConnInfo(
        absl::StrCat("host=", host, " sslmode=verify-full sslrootcert=", tls_->ca_cert_path())));
    ASSERT_TRUE(conn.ok()) << conn.status();
    EXPECT_TRUE((*conn)->is_tls());
    // The server offers SCRAM-SHA-256-PLUS over TLS and channel_binding defaults to prefer.
    EXPECT_EQ((*conn)->auth_method(), "SCRAM-SHA-256-PLUS");
  }
}

TEST_F(WirePgTest, ChannelBindingRequireAndDisable) {
  auto bound = Connect(TlsConnInfo(absl::StrCat(
      "sslmode=verify-ca channel_binding=require sslrootcert=", tls_->ca_cert_path())));
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ((*bound)->auth_method(), "SCRAM-SHA-256-PLUS");
  auto unbound = Connect(TlsConnInfo("sslmode=require channel_binding=disable"));
  ASSERT_TRUE(unbound.ok()) << unbound.status();
  EXPECT_TRUE((*unbound)->is_tls());
  EXPECT_EQ((*unbound)->auth_method(), "SCRAM-SHA-256");
  // Without TLS there is nothing to bind to.
  auto refused = Connect(TlsConnInfo("sslmode=disable channel_binding=require"));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("channel binding"));
}

TEST_F(WirePgTest, UnrelatedCaIsCertificateError) {
  auto conn = Connect(TlsConnInfo(
      absl::StrCat("sslmode=verify-full sslrootcert=", tls_->root_dir(), "/tls/other_ca.crt")));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kFailedPrecondition) << conn.status();
  EXPECT_THAT(conn.status().message(), HasSubstr("certificate"));
}

TEST_F(WirePgTest, HostNameMismatchIsCertificateError) {
  auto conn =
      Connect(TlsConnInfo(absl::StrCat("host=wronghost.invalid hostaddr=127.0.0.1 ",
                                       "sslmode=verify-full sslrootcert=", tls_->ca_cert_path())));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kFailedPrecondition) << conn.status();
  EXPECT_THAT(conn.status().message(), HasSubstr("certificate"));
  EXPECT_THAT(conn.status().message(), HasSubstr("wronghost.invalid"));
}

// Copies a fixture file to a private temporary file (libpq's key permission rule wants
// the key owned by us with mode 0600; the fixture's belongs to `postgres`).
std::string PrivateCopy(const std::string& from) {
  std::ifstream in(from, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  char path[] = "/tmp/walrep-wire-pg-test.XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(fchmod(fd, 0600), 0);
  EXPECT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
  return path;
}

TEST_F(WirePgTest, ClientCertificateAuthentication) {
  const std::string key = PrivateCopy(tls_->root_dir() + "/tls/client.key");
  const std::string cert = PrivateCopy(tls_->root_dir() + "/tls/client.crt");
  ConnectionOptions options = Options();
  options.replication = false;
  auto conn = Connect(
      TlsConnInfo(absl::StrCat("dbname=postgres password='' sslmode=verify-full sslrootcert=",
                               tls_->ca_cert_path(), " sslcert=", cert, " sslkey=", key)),
      options);
  unlink(key.c_str());
  unlink(cert.c_str());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE((*conn)->is_tls());
  EXPECT_EQ((*conn)->auth_method(), "trust");  // the certificate was all the server asked for
  auto rs = (*conn)->Query(
      "SELECT current_user, ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), 1u);
  EXPECT_EQ((*rs)[0].rows.at(0).values.at(0), PgPrimary::kReplUser);
  EXPECT_EQ((*rs)[0].rows.at(0).values.at(1), "t");
  EXPECT_EQ((*rs)[0].rows.at(0).values.at(2), absl::StrCat("/CN=", PgPrimary::kReplUser));
}

TEST_F(WirePgTest, IdentifySystemMatchesPgControldata) {
  auto conn = Connect(plain_->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query(IdentifySystemCommand());
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), 1u);
  auto id = ParseIdentifySystem((*rs)[0]);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->timeline, 1u);
  EXPECT_FALSE(id->dbname.has_value());
  auto control = plain_->RunTool("pg_controldata", "-D " + testing::ShellQuote(plain_->data_dir()));
  ASSERT_TRUE(control.ok()) << control.status();
  uint64_t expected = 0;
  for (absl::string_view line : absl::StrSplit(*control, '\n')) {
    if (absl::ConsumePrefix(&line, "Database system identifier:")) {
      ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &expected));
    }
  }
  EXPECT_NE(expected, 0u);
  EXPECT_EQ(id->system_id, expected);
}

TEST_F(WirePgTest, CreateThenReadReplicationSlot) {
  auto conn = Connect(plain_->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto create = CreatePhysicalSlotCommand("wire_pg_test_slot", {}, (*conn)->server_version_num());
  ASSERT_TRUE(create.ok()) << create.status();
  auto created = (*conn)->Query(*create);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->size(), 1u);
  auto slot = ParseCreateReplicationSlot((*created)[0]);
  ASSERT_TRUE(slot.ok()) << slot.status();
  EXPECT_EQ(slot->slot_name, "wire_pg_test_slot");

  auto read = (*conn)->Query(*ReadReplicationSlotCommand("wire_pg_test_slot"));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  auto info = ParseReadReplicationSlot((*read)[0]);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->slot_type, "physical");
  ASSERT_TRUE(info->restart_lsn.has_value());
  EXPECT_TRUE(info->restart_lsn->valid());
  EXPECT_EQ(info->restart_tli, 1u);

  // An absent slot reads back as NULLs, not an error.
  auto absent = (*conn)->Query(*ReadReplicationSlotCommand("no_such_slot"));
  ASSERT_TRUE(absent.ok()) << absent.status();
  auto none = ParseReadReplicationSlot((*absent)[0]);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->slot_type.has_value());
  EXPECT_TRUE((*conn)->Query(*DropReplicationSlotCommand("wire_pg_test_slot")).ok());
}

TEST_F(WirePgTest, TimelineHistoryOfTimelineOneIsAnErrorStatus) {
  auto conn = Connect(plain_->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query(*TimelineHistoryCommand(1));
  ASSERT_FALSE(rs.ok());
  EXPECT_NE(rs.status().code(), absl::StatusCode::kDataLoss) << rs.status();
  EXPECT_TRUE(SqlStateOf(rs.status()).has_value()) << rs.status();
  // The error was drained: the session is still usable.
  auto again = (*conn)->Query(IdentifySystemCommand());
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(WirePgTest, StartReplicationStreamsAndEndsCleanly) {
  auto conn = Connect(plain_->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query(IdentifySystemCommand());
  ASSERT_TRUE(rs.ok()) << rs.status();
  auto id = ParseIdentifySystem((*rs)[0]);
  ASSERT_TRUE(id.ok()) << id.status();
  StartReplicationOptions start;
  start.start = id->xlogpos.SegmentStart(kSegmentSize);
  start.timeline = id->timeline;
  char kind = 0;
  auto pre = (*conn)->StartCopy(*StartPhysicalReplicationCommand(start), &kind);
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_TRUE(pre->empty());
  ASSERT_EQ(kind, 'W');

  int xlog = 0, keepalive = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (xlog + keepalive == 0 && absl::Now() < deadline) {
    auto m = (*conn)->ReadMessage(deadline);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->has_value());
    ASSERT_EQ((*m)->type, 'd');
    auto pm = DecodePrimaryMessage((*m)->body);
    ASSERT_TRUE(pm.ok()) << pm.status();
    if ((*m)->body[0] == 'w') {
      auto x = DecodeXLogData((*m)->body);
      ASSERT_TRUE(x.ok());
      EXPECT_EQ(x->start, start.start);
      ++xlog;
    } else {
      ++keepalive;
    }
  }
  EXPECT_GT(xlog + keepalive, 0);

  ASSERT_TRUE((*conn)->SendCopyDone().ok());
  std::string after;
  for (;;) {
    auto m = (*conn)->ReadMessage(absl::Now() + absl::Seconds(20));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->has_value()) << "no answer to CopyDone";
    if ((*m)->type == 'd') continue;  // WAL already in flight
    after += (*m)->type;
    if ((*m)->type == 'Z') break;
  }
  EXPECT_EQ(after.front(), 'c');
  EXPECT_THAT(after, HasSubstr("C"));
  // Back at ReadyForQuery.
  auto again = (*conn)->Query(IdentifySystemCommand());
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(WirePgAuthTest, Md5) {
  PgPrimaryOptions o;
  o.auth_method = "md5";
  o.password_encryption = "md5";
  auto pg = StartOrDie(o);
  ASSERT_NE(pg, nullptr);
  auto conn = Connect(pg->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "md5");
  auto bad = Connect(pg->ReplConnInfo("password=nope"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kPermissionDenied) << bad.status();
}

TEST(WirePgAuthTest, CleartextPassword) {
  PgPrimaryOptions o;
  o.auth_method = "password";
  auto pg = StartOrDie(o);
  ASSERT_NE(pg, nullptr);
  auto conn = Connect(pg->ReplConnInfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "cleartext");
  auto rs = (*conn)->Query(IdentifySystemCommand());
  EXPECT_TRUE(rs.ok()) << rs.status();
}

TEST(WirePgAuthTest, SslAllowRetriesWithTlsWhenPlainIsRejected) {
  PgPrimaryOptions o;
  o.tls = true;
  o.tls_only = true;
  auto pg = StartOrDie(o);
  ASSERT_NE(pg, nullptr);
  auto plain = Connect(pg->ReplConnInfo("sslmode=disable"));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kPermissionDenied) << plain.status();
  EXPECT_THAT(plain.status().message(), HasSubstr("no pg_hba.conf entry"));
  auto conn = Connect(pg->ReplConnInfo("sslmode=allow"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE((*conn)->is_tls());
  EXPECT_EQ((*conn)->auth_method(), "SCRAM-SHA-256-PLUS");
}

TEST(WirePgAuthTest, Trust) {
  PgPrimaryOptions o;
  o.auth_method = "trust";
  auto pg = StartOrDie(o);
  ASSERT_NE(pg, nullptr);
  auto conn = Connect(pg->ReplConnInfo("password=''"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "trust");
}

}  // namespace
}  // namespace walrep
