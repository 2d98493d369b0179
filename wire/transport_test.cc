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

namespace walrep {
namespace {

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

// --- Test PKI: a CA, an unrelated CA, a server cert (SAN DNS:localhost, IP:127.0.0.1)
// and a client cert, all RSA-2048 signed with SHA-256. ---------------------------------

X509* MakeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
               bool ca, const char* san) {
  static int serial = 1;
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer != nullptr ? issuer : x));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr) << value;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
  add(NID_subject_key_identifier, "hash");
  if (san != nullptr) add(NID_subject_alt_name, san);
  X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

void WritePem(const std::string& path, X509* cert, EVP_PKEY* key,
              const char* password = nullptr) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  if (cert != nullptr) PEM_write_X509(f, cert);
  if (key != nullptr) {
    PEM_write_PrivateKey(f, key, password ? EVP_aes_256_cbc() : nullptr, nullptr, 0,
                         nullptr, const_cast<char*>(password));
  }
  std::fclose(f);
  chmod(path.c_str(), 0600);
}

struct Pki {
  std::string dir, ca, other_ca, server_cert, server_key, client_cert, client_key,
      client_key_encrypted;
  std::string server_der;
};

const Pki& TestPki() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    p->dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/pki");
    mkdir(p->dir.c_str(), 0700);
    EVP_PKEY* ca_key = EVP_RSA_gen(2048);
    EVP_PKEY* other_key = EVP_RSA_gen(2048);
    EVP_PKEY* server_key = EVP_RSA_gen(2048);
    EVP_PKEY* client_key = EVP_RSA_gen(2048);
    X509* ca = MakeCert(ca_key, "walrep test CA", nullptr, nullptr, true, nullptr);
    X509* other = MakeCert(other_key, "other CA", nullptr, nullptr, true, nullptr);
    X509* server = MakeCert(server_key, "localhost", ca, ca_key, false,
                            "DNS:localhost,IP:127.0.0.1");
    X509* client = MakeCert(client_key, "replicator", ca, ca_key, false, nullptr);
    p->ca = p->dir + "/ca.crt";
    p->other_ca = p->dir + "/other.crt";
    p->server_cert = p->dir + "/server.crt";
    p->server_key = p->dir + "/server.key";
    p->client_cert = p->dir + "/client.crt";
    p->client_key = p->dir + "/client.key";
    p->client_key_encrypted = p->dir + "/client-enc.key";
    WritePem(p->ca, ca, nullptr);
    WritePem(p->other_ca, other, nullptr);
    WritePem(p->server_cert, server, nullptr);
    WritePem(p->server_key, nullptr, server_key);
    WritePem(p->client_cert, client, nullptr);
    WritePem(p->client_key, nullptr, client_key);
    WritePem(p->client_key_encrypted, nullptr, client_key, "s3cret-pass");
    unsigned char* der = nullptr;
    int len = i2d_X509(server, &der);
    p->server_der.assign(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
    for (X509* c : {ca, other, server, client}) X509_free(c);
    for (EVP_PKEY* k : {ca_key, other_key, server_key, client_key}) EVP_PKEY_free(k);
    return p;
  }();
  return *pki;
}

// --- An in-process echo server on 127.0.0.1, port 0, plain or TLS. -----------------

int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 8) != 0) {
    std::abort();
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

class EchoServer {
 public:
  // `tls` is an SSL_CTX (ownership taken) or nullptr for plain TCP.
  explicit EchoServer(SSL_CTX* tls = nullptr) : tls_(tls) {
    listen_fd_ = Listen(&port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);  // Wakes the blocked accept() (Linux).
    thread_.join();
    close(listen_fd_);
    SSL_CTX_free(tls_);
  }
  int port() const { return port_; }

 private:
  void Run() {
    // SIGPIPE stays fatal for the client side of the test; only this thread blocks it.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    while (!stop_) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c < 0) continue;
      struct timeval tv = {10, 0};  // A stuck client cannot wedge the test forever.
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      Serve(c);
      close(c);
    }
  }
  void Serve(int c) {
    char buf[16384];
    if (tls_ == nullptr) {
      for (ssize_t n; (n = recv(c, buf, sizeof(buf), 0)) > 0;) {
        if (send(c, buf, n, MSG_NOSIGNAL) != n) return;
      }
      return;
    }
    SSL* ssl = SSL_new(tls_);
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1) {
      for (int n; (n = SSL_read(ssl, buf, sizeof(buf))) > 0;) {
        if (SSL_write(ssl, buf, n) != n) break;
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }

  SSL_CTX* tls_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

SSL_CTX* ServerTls(bool require_client_cert = false) {
  const Pki& pki = TestPki();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate_chain_file(ctx, pki.server_cert.c_str());
  SSL_CTX_use_PrivateKey_file(ctx, pki.server_key.c_str(), SSL_FILETYPE_PEM);
  if (require_client_cert) {
    SSL_CTX_load_verify_locations(ctx, pki.ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

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
