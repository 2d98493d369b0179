// sslcrl / sslcrldir / ~/.postgresql/root.crl against an in-process TLS server whose
// certificate the test CA signed; the CRLs are made here with OpenSSL, revoking the
// server's serial or not.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "wire/tls.h"
#include "wire/transport.h"
#include "wire/transport_test_util.h"

namespace walrep {
namespace {

using namespace ::walrep::transport_testing;  // NOLINT: the test's own fixtures

X509* ReadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr) << path;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return x;
}

EVP_PKEY* ReadKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr) << path;
  EVP_PKEY* k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return k;
}

struct CrlSpec {
  std::string ca_cert;
  std::string ca_key;
  bool revoke_server = false;
  long next_update_from_now = 86400;  // seconds; negative: already expired
};

// A v2 CRL from spec.ca_cert, PEM, written to `path`.
void WriteCrl(const std::string& path, const CrlSpec& spec) {
  X509* ca = ReadCert(spec.ca_cert);
  EVP_PKEY* key = ReadKey(spec.ca_key);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(key, nullptr);
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, X509_CRL_VERSION_2);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  const time_t now = std::time(nullptr);
  // Issued an hour ago (two, for an expired one, so it was valid for a while).
  ASN1_TIME* last = ASN1_TIME_adj(nullptr, now, 0, spec.next_update_from_now < 0 ? -7200 : -3600);
  ASN1_TIME* next = ASN1_TIME_adj(nullptr, now, 0, spec.next_update_from_now);
  X509_CRL_set1_lastUpdate(crl, last);
  X509_CRL_set1_nextUpdate(crl, next);
  if (spec.revoke_server) {
    X509* server = ReadCert(TestPki().server_cert);
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(server));
    X509_REVOKED_set_revocationDate(r, last);
    X509_CRL_add0_revoked(crl, r);
    X509_free(server);
  }
  X509_CRL_sort(crl);
  ASSERT_GT(X509_CRL_sign(crl, key, EVP_sha256()), 0);
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509_CRL(f, crl);
  std::fclose(f);
  ASN1_TIME_free(last);
  ASN1_TIME_free(next);
  X509_CRL_free(crl);
  EVP_PKEY_free(key);
  X509_free(ca);
}

// The name the hashed-directory lookup looks for: <issuer hash>.r0 (`openssl rehash`).
std::string HashedCrlName(const std::string& ca_cert) {
  X509* ca = ReadCert(ca_cert);
  unsigned long h = X509_NAME_hash_ex(X509_get_subject_name(ca), nullptr, nullptr, nullptr);
  X509_free(ca);
  return absl::StrFormat("%08lx.r0", h);
}

class TlsCrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/crl-", ++counter_);
    mkdir(dir_.c_str(), 0700);
    setenv("HOME", dir_.c_str(), 1);  // ~/.postgresql/root.crl lives here, if anywhere
  }
  CrlSpec OurCa(bool revoke) const { return CrlSpec{TestPki().ca, TestPki().ca_key, revoke}; }
  std::string Crl(const std::string& name, const CrlSpec& spec) {
    std::string path = dir_ + "/" + name;
    WriteCrl(path, spec);
    return path;
  }
  std::string CrlDir(const std::string& name, const CrlSpec& spec) {
    std::string d = dir_ + "/" + name;
    mkdir(d.c_str(), 0700);
    WriteCrl(d + "/" + HashedCrlName(spec.ca_cert), spec);
    return d;
  }
  static TlsOptions Verify(SslMode mode) {
    TlsOptions o;
    o.sslmode = mode;
    o.root_cert = TestPki().ca;
    return o;
  }
  // A handshake with the echo server; OK and one echo, or the StartTls error.
  absl::Status Handshake(const TlsOptions& options) {
    EchoServer server(ServerTls());
    auto t = Transport::Connect("localhost", "127.0.0.1", server.port(), absl::Seconds(5));
    if (!t.ok()) return t.status();
    absl::Status st = t->StartTls(options, Soon());
    if (!st.ok()) return st;
    if (absl::Status w = t->WriteAll("ping", Soon()); !w.ok()) return w;
    uint8_t buf[4];
    size_t got = 0;
    while (got < sizeof(buf)) {
      absl::StatusOr<size_t> n = t->Read(absl::MakeSpan(buf + got, sizeof(buf) - got), Soon());
      if (!n.ok()) return n.status();
      got += *n;
    }
    return absl::OkStatus();
  }
  std::string dir_;
  static inline int counter_ = 0;
};

TEST_F(TlsCrlTest, RevokedServerCertificateFailsVerifyFull) {
  TlsOptions o = Verify(SslMode::kVerifyFull);
  o.crl_file = Crl("revoked.crl", OurCa(true));
  absl::Status st = Handshake(o);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(st.message(), "server certificate verify failed: certificate revoked");
}

TEST_F(TlsCrlTest, CrlThatDoesNotRevokeItPasses) {
  TlsOptions o = Verify(SslMode::kVerifyFull);
  o.crl_file = Crl("clean.crl", OurCa(false));
  absl::Status st = Handshake(o);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(TlsCrlTest, VerifyCaConsultsItToo) {
  TlsOptions o = Verify(SslMode::kVerifyCa);
  o.crl_file = Crl("revoked.crl", OurCa(true));
  EXPECT_TRUE(absl::StrContains(Handshake(o).message(), "certificate revoked"));
}

TEST_F(TlsCrlTest, HashedDirectory) {
  TlsOptions revoked = Verify(SslMode::kVerifyFull);
  revoked.crl_dir = CrlDir("revoked.d", OurCa(true));
  absl::Status st = Handshake(revoked);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "certificate revoked")) << st;

  TlsOptions clean = Verify(SslMode::kVerifyFull);
  clean.crl_dir = CrlDir("clean.d", OurCa(false));
  st = Handshake(clean);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(TlsCrlTest, DefaultRootCrlIsUsedWhenNoneIsNamed) {
  const std::string pgdir = dir_ + "/.postgresql";
  mkdir(pgdir.c_str(), 0700);
  WriteCrl(pgdir + "/root.crl", OurCa(true));
  absl::Status st = Handshake(Verify(SslMode::kVerifyFull));
  EXPECT_TRUE(absl::StrContains(st.message(), "certificate revoked")) << st;
  // A named CRL replaces the default one, as in libpq.
  TlsOptions named = Verify(SslMode::kVerifyFull);
  named.crl_file = Crl("clean.crl", OurCa(false));
  EXPECT_TRUE(Handshake(named).ok());
}

TEST_F(TlsCrlTest, NotConsultedWhenTheChainIsNotVerified) {
  TlsOptions o;
  o.sslmode = SslMode::kRequire;  // no root certificate: nothing is verified
  o.crl_file = Crl("revoked.crl", OurCa(true));
  EXPECT_TRUE(Handshake(o).ok());
  o.crl_file = dir_ + "/missing.crl";  // not even opened
  EXPECT_TRUE(Handshake(o).ok());
}

// CRL_CHECK_ALL: the chain needs a CRL from its own issuer; one from an unrelated CA does
// not count, and no CRL means no connection.
TEST_F(TlsCrlTest, CrlFromAnotherIssuerFailsClosed) {
  TlsOptions o = Verify(SslMode::kVerifyFull);
  o.crl_file = Crl("other.crl", CrlSpec{TestPki().other_ca, TestPki().other_ca_key, false});
  absl::Status st = Handshake(o);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "unable to get certificate CRL")) << st;
}

TEST_F(TlsCrlTest, ExpiredCrlFails) {
  CrlSpec spec = OurCa(false);
  spec.next_update_from_now = -3600;
  TlsOptions o = Verify(SslMode::kVerifyFull);
  o.crl_file = Crl("expired.crl", spec);
  absl::Status st = Handshake(o);
  EXPECT_TRUE(absl::StrContains(st.message(), "CRL has expired")) << st;
}

// libpq would silently skip these and verify without revocation checks.
TEST_F(TlsCrlTest, UnusableNamedCrlIsAConfigurationError) {
  TlsOptions missing = Verify(SslMode::kVerifyFull);
  missing.crl_file = dir_ + "/missing.crl";
  absl::Status st = Handshake(missing);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "missing.crl")) << st;

  TlsOptions not_a_crl = Verify(SslMode::kVerifyFull);
  not_a_crl.crl_file = TestPki().ca;  // a certificate, not a CRL
  st = Handshake(not_a_crl);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "contains no PEM CRL")) << st;

  TlsOptions no_dir = Verify(SslMode::kVerifyFull);
  no_dir.crl_dir = dir_ + "/no-such-dir";
  st = Handshake(no_dir);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "no-such-dir")) << st;
}

}  // namespace
}  // namespace walrep
