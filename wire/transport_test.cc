#include "wire/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "wire/tls.h"
#include "wire/transport_test_util.h"

namespace walrep {
namespace {

using namespace ::walrep::transport_testing;  // NOLINT: the test's own fixtures

void ExpectEcho(Transport& t, const std::string& msg) {
  ASSERT_TRUE(t.WriteAll(msg, Soon()).ok());
  std::string got;
  uint8_t buf[65536];
  while (got.size() < msg.size()) {
    absl::StatusOr<size_t> n = t.Read(absl::MakeSpan(buf), Soon());
    ASSERT_TRUE(n.ok()) << n.status();
    got.append(reinterpret_cast<char*>(buf), *n);
  }
  EXPECT_EQ(got, msg);
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Default TLS files resolve under $HOME/.postgresql; point HOME at an empty dir.
    home_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/home-", ++counter_);
    mkdir(home_.c_str(), 0700);
    setenv("HOME", home_.c_str(), 1);
  }
  static TlsOptions Tls(SslMode mode, std::string root_cert = "") {
    TlsOptions o;
    o.sslmode = mode;
    o.root_cert = std::move(root_cert);
    return o;
  }
  std::string home_;
  static inline int counter_ = 0;
};

TEST_F(TransportTest, PlainEcho) {
  EchoServer server;
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->is_tls());
  EXPECT_EQ(t->peer_address(), "127.0.0.1");
  ExpectEcho(*t, "hello");
  EXPECT_EQ(t->TlsServerEndPointHash().status().code(),
            absl::StatusCode::kFailedPrecondition);
  t->Close();
  EXPECT_FALSE(t->is_open());
}

// A Waker ends a read wait at once, as a deadline would, and leaves the connection as it
// was: the next read gets the data; a write is never interrupted by it.
TEST_F(TransportTest, WakerEndsAReadWaitButNotTheConnection) {
  EchoServer server;
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  Waker waker;
  t->set_waker(&waker);
  uint8_t buf[64];
  std::thread poke([&] {
    absl::SleepFor(absl::Milliseconds(50));  // the read below is waiting by then (or not yet:
    waker.Wake();                            // level-triggered, it ends either way)
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<size_t> n = t->Read(absl::MakeSpan(buf), start + absl::Seconds(30));
  poke.join();
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded) << n.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(t->TakeWoken());
  EXPECT_FALSE(t->TakeWoken());  // cleared by the first call
  // Still readable until drained; drained, the connection works as before.
  EXPECT_EQ(t->Read(absl::MakeSpan(buf), absl::Now() + absl::Seconds(30)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  waker.Drain();
  waker.Wake();  // a pending wake does not disturb writes
  ASSERT_TRUE(t->WriteAll("ping", Soon()).ok());
  waker.Drain();
  EXPECT_TRUE(t->TakeWoken());  // the second read's wait saw it too
  std::string got;
  while (got.size() < 4) {
    absl::StatusOr<size_t> r = t->Read(absl::MakeSpan(buf), Soon());
    ASSERT_TRUE(r.ok()) << r.status();
    got.append(reinterpret_cast<char*>(buf), *r);
  }
  EXPECT_EQ(got, "ping");
}

TEST_F(TransportTest, ResolvesLocalhostTryingEachAddress) {
  EchoServer server;  // IPv4 only: a ::1 answer is refused and the next address tried.
  auto t = Transport::Connect("localhost", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  ExpectEcho(*t, "x");
}

TEST_F(TransportTest, TlsVerifyFullByNameViaHostaddr) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("localhost", "127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::Status st = t->StartTls(Tls(SslMode::kVerifyFull, TestPki().ca), Soon());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(t->is_tls());
  ExpectEcho(*t, "over tls");
  ExpectEcho(*t, std::string(200000, 'z'));  // Many records, partial reads and writes.
}

TEST_F(TransportTest, TlsVerifyFullByIpAddress) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::Status st = t->StartTls(Tls(SslMode::kVerifyFull, TestPki().ca), Soon());
  ASSERT_TRUE(st.ok()) << st;
  ExpectEcho(*t, "ip");
}

TEST_F(TransportTest, TlsVerifyFullHostMismatch) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok());
  TlsOptions o = Tls(SslMode::kVerifyFull, TestPki().ca);
  o.server_host = "db.example.com";
  absl::Status st = t->StartTls(o, Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.message(), "certificate")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "does not match host name \"db.example.com\""))
      << st;
  EXPECT_FALSE(t->is_open());
}

TEST_F(TransportTest, TlsVerifyCaIgnoresHostName) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  TlsOptions o = Tls(SslMode::kVerifyCa, TestPki().ca);
  o.server_host = "db.example.com";
  ASSERT_TRUE(t->StartTls(o, Soon()).ok());
  ExpectEcho(*t, "ca only");
}

TEST_F(TransportTest, TlsVerifyCaWrongCa) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::Status st = t->StartTls(Tls(SslMode::kVerifyCa, TestPki().other_ca), Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.message(), "certificate verify failed")) << st;
}

TEST_F(TransportTest, TlsVerifyCaNeedsRootCertFile) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::Status st = t->StartTls(Tls(SslMode::kVerifyCa), Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "root certificate file")) << st;
}

TEST_F(TransportTest, TlsRequireWithoutRootCertDoesNotVerify) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t->StartTls(Tls(SslMode::kRequire), Soon()).ok());
  ExpectEcho(*t, "unverified");
}

// libpq compatibility: an existing ~/.postgresql/root.crt makes require verify the chain.
TEST_F(TransportTest, TlsRequireWithDefaultRootCertBehavesLikeVerifyCa) {
  std::string dir = home_ + "/.postgresql";
  mkdir(dir.c_str(), 0700);
  ASSERT_EQ(std::system(absl::StrCat("cp ", TestPki().other_ca, " ", dir, "/root.crt").c_str()),
            0);
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::Status st = t->StartTls(Tls(SslMode::kRequire), Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

TEST_F(TransportTest, ChannelBindingHashIsSha256OfServerCert) {
  EchoServer server(ServerTls());
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t->StartTls(Tls(SslMode::kRequire), Soon()).ok());
  absl::StatusOr<std::string> hash = t->TlsServerEndPointHash();
  ASSERT_TRUE(hash.ok()) << hash.status();
  unsigned char want[32];
  const std::string& der = TestPki().server_der;
  EVP_Digest(der.data(), der.size(), want, nullptr, EVP_sha256(), nullptr);
  EXPECT_EQ(*hash, std::string(reinterpret_cast<char*>(want), 32));
}

TEST_F(TransportTest, ClientCertificateWithEncryptedKey) {
  const Pki& pki = TestPki();
  EchoServer server(ServerTls(/*require_client_cert=*/true));
  TlsOptions o = Tls(SslMode::kVerifyFull, pki.ca);
  o.cert = pki.client_cert;
  o.key = pki.client_key_encrypted;
  o.key_password = "wrong-pass";
  auto bad = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(bad.ok()) << bad.status();
  absl::Status st = bad->StartTls(o, Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(st.message(), "wrong-pass")) << st;

  o.key_password = "s3cret-pass";
  auto t = Transport::Connect("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(t.ok()) << t.status();
  st = t->StartTls(o, Soon());
  ASSERT_TRUE(st.ok()) << st;
  ExpectEcho(*t, "with client cert");
}

TEST_F(TransportTest, KeyFilePermissions) {
  std::string key = home_ + "/perm.key";
  ASSERT_EQ(std::system(absl::StrCat("cp ", TestPki().client_key, " ", key).c_str()), 0);
  chmod(key.c_str(), 0600);
  EXPECT_TRUE(CheckKeyFilePermissions(key).ok());
  chmod(key.c_str(), 0644);
  absl::Status st = CheckKeyFilePermissions(key);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "group or world access"));
  chmod(key.c_str(), 0640);
  EXPECT_EQ(CheckKeyFilePermissions(key).ok(), geteuid() == 0);  // Root-owned may be 0640.
  EXPECT_FALSE(CheckKeyFilePermissions(home_).ok());              // Not a regular file.
}

TEST_F(TransportTest, ClosedPortIsUnavailableQuickly) {
  int port = 0;
  close(Listen(&port));  // Nothing listens there now.
  absl::Time start = absl::Now();
  auto t = Transport::Connect("127.0.0.1", port, absl::Seconds(5));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(t.status().message(), "refused")) << t.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(TransportTest, ReadTimesOutAgainstSilentServer) {
  int port = 0;
  int listener = Listen(&port);  // Never accepts: the kernel completes the handshake.
  auto t = Transport::Connect("127.0.0.1", port, absl::Seconds(5));
  ASSERT_TRUE(t.ok());
  absl::StatusOr<bool> readable = t->WaitReadable(absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(readable.ok());
  EXPECT_FALSE(*readable);
  uint8_t buf[16];
  absl::Time start = absl::Now();
  auto n = t->Read(absl::MakeSpan(buf), start + absl::Milliseconds(200));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(n.status().message(), "timeout"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  // A handshake against the same silent peer times out as well.
  absl::Status st = t->StartTls(Tls(SslMode::kRequire), absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  close(listener);
}

TEST_F(TransportTest, PeerCloseIsUnavailableAndNeverSigpipe) {
  int port = 0;
  int listener = Listen(&port);
  auto t = Transport::Connect("127.0.0.1", port, absl::Seconds(5));
  ASSERT_TRUE(t.ok());
  close(accept(listener, nullptr, nullptr));
  uint8_t buf[16];
  auto n = t->Read(absl::MakeSpan(buf), Soon());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(n.status().message(), "closed the connection"));
  // The first write may still be accepted by the kernel; the RST makes a later one fail.
  absl::Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) st = t->WriteAll(std::string(4096, 'x'), Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  close(listener);
}

TEST_F(TransportTest, RejectsPlaintextInjectedBeforeHandshake) {
  int port = 0;
  int listener = Listen(&port);
  auto t = Transport::Connect("127.0.0.1", port, absl::Seconds(5));
  ASSERT_TRUE(t.ok());
  int c = accept(listener, nullptr, nullptr);
  ASSERT_EQ(send(c, "R", 1, 0), 1);
  absl::Status st = t->StartTls(Tls(SslMode::kRequire), Soon());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(st.message(), "unencrypted data")) << st;
  close(c);
  close(listener);
}

TEST_F(TransportTest, BadArguments) {
  EXPECT_EQ(Transport::Connect("127.0.0.1", 0, absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Transport::Connect("h", "not-an-ip", 5432, absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSslMode("verify-full").value(), SslMode::kVerifyFull);
  EXPECT_EQ(ParseSslMode("bogus").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SslModeName(SslMode::kVerifyCa), "verify-ca");
}

}  // namespace
}  // namespace walrep
