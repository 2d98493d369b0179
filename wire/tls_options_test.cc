// sslsni, sslcompression and ssl_min/max_protocol_version as TlsSession applies them.
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "wire/tls.h"
#include "wire/transport.h"
#include "wire/transport_test_util.h"

namespace walrep {
namespace {

using namespace ::walrep::transport_testing;  // NOLINT: the test's own fixtures

// The server name the echo server's last handshake saw ("" for none).
absl::Mutex sni_mu;
std::string last_sni ABSL_GUARDED_BY(sni_mu);

int RecordServerName(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  absl::MutexLock lock(&sni_mu);
  last_sni = name != nullptr ? name : "";
  return SSL_TLSEXT_ERR_OK;
}

SSL_CTX* RecordingServerTls(int max_version = 0) {
  SSL_CTX* ctx = ServerTls();
  SSL_CTX_set_tlsext_servername_callback(ctx, RecordServerName);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx, max_version);
  return ctx;
}

class TlsOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/tlsopt-home");
    mkdir(home_.c_str(), 0700);
    setenv("HOME", home_.c_str(), 1);
    absl::MutexLock lock(&sni_mu);
    last_sni = "(no handshake)";
  }
  // Handshake plus one echo (so the server side is done); returns the transport.
  absl::StatusOr<Transport> Connect(const EchoServer& server, const std::string& host,
                                    const TlsOptions& options) {
    auto t = Transport::Connect(host, "127.0.0.1", server.port(), absl::Seconds(5));
    if (!t.ok()) return t.status();
    absl::Status st = t->StartTls(options, Soon());
    if (!st.ok()) return st;
    st = t->WriteAll("x", Soon());
    uint8_t b;
    if (st.ok()) st = t->Read(absl::MakeSpan(&b, 1), Soon()).status();
    if (!st.ok()) return st;
    return t;
  }
  static std::string Sni() {
    absl::MutexLock lock(&sni_mu);
    return last_sni;
  }
  std::string home_;
};

TlsOptions Require() {
  TlsOptions o;
  o.sslmode = SslMode::kRequire;
  return o;
}

TEST_F(TlsOptionsTest, SniIsSentForHostNamesUnlessTurnedOff) {
  EchoServer server(RecordingServerTls());
  ASSERT_TRUE(Connect(server, "localhost", Require()).ok());
  EXPECT_EQ(Sni(), "localhost");

  TlsOptions off = Require();
  off.sni = false;  // sslsni=0
  ASSERT_TRUE(Connect(server, "localhost", off).ok());
  EXPECT_EQ(Sni(), "");
}

TEST_F(TlsOptionsTest, SniIsNeverAnIpAddress) {
  EchoServer server(RecordingServerTls());
  // libpq's rule: digits and dots only, or anything with a ':'.
  for (const char* host : {"127.0.0.1", "::1", "10.1"}) {
    SCOPED_TRACE(host);
    ASSERT_TRUE(Connect(server, host, Require()).ok());
    EXPECT_EQ(Sni(), "");
  }
}

TEST_F(TlsOptionsTest, CompressionFollowsSslcompression) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  TlsOptions o = Require();
  auto off = TlsSession::Create(fds[0], o);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_NE(SSL_get_options((*off)->ssl()) & SSL_OP_NO_COMPRESSION, 0u);
  o.compression = true;  // sslcompression=1
  auto on = TlsSession::Create(fds[0], o);
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(SSL_get_options((*on)->ssl()) & SSL_OP_NO_COMPRESSION, 0u);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(TlsOptionsTest, ProtocolVersionBounds) {
  EchoServer server(RecordingServerTls());
  auto by_default = Connect(server, "localhost", Require());
  ASSERT_TRUE(by_default.ok()) << by_default.status();
  EXPECT_EQ(by_default->tls_protocol(), "TLSv1.3");
  by_default->Close();  // the echo server serves one connection at a time

  TlsOptions capped = Require();
  capped.max_protocol = "tlsv1.2";  // libpq compares case-insensitively
  auto t = Connect(server, "localhost", capped);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->tls_protocol(), "TLSv1.2");
}

TEST_F(TlsOptionsTest, MinimumAboveWhatTheServerSpeaksFailsTheHandshake) {
  EchoServer old_server(RecordingServerTls(TLS1_2_VERSION));
  TlsOptions o = Require();
  o.min_protocol = "TLSv1.3";
  auto t = Connect(old_server, "localhost", o);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable) << t.status();
  // TLSv1.2 (the default minimum) still works against it.
  EXPECT_TRUE(Connect(old_server, "localhost", Require()).ok());
}

TEST(TlsProtocolVersionTest, LibpqNames) {
  EXPECT_EQ(ParseTlsProtocolVersion("").value(), 0);
  EXPECT_EQ(ParseTlsProtocolVersion("TLSv1").value(), TLS1_VERSION);
  EXPECT_EQ(ParseTlsProtocolVersion("TLSv1.1").value(), TLS1_1_VERSION);
  EXPECT_EQ(ParseTlsProtocolVersion("tlsv1.2").value(), TLS1_2_VERSION);
  EXPECT_EQ(ParseTlsProtocolVersion("TLSV1.3").value(), TLS1_3_VERSION);
  EXPECT_EQ(ParseTlsProtocolVersion("TLSv1.4").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTlsProtocolVersion("SSLv3").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walrep
