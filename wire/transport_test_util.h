// Test support for the transport and TLS tests: a throwaway PKI (a CA, an unrelated CA,
// both with their keys, a server certificate for localhost/127.0.0.1 and a client
// certificate) and a plain/TLS echo server on 127.0.0.1:0. Test-only.
#ifndef WALREP_WIRE_TRANSPORT_TEST_UTIL_H_
#define WALREP_WIRE_TRANSPORT_TEST_UTIL_H_

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

namespace walrep::transport_testing {

inline absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

// --- Test PKI: a CA, an unrelated CA, a server cert (SAN DNS:localhost, IP:127.0.0.1)
// and a client cert, all RSA-2048 signed with SHA-256. ---------------------------------

inline X509* MakeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
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

inline void WritePem(const std::string& path, X509* cert, EVP_PKEY* key,
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
  std::string dir, ca, ca_key, other_ca, other_ca_key, server_cert, server_key, client_cert,
      client_key, client_key_encrypted;
  std::string server_der;
};

inline const Pki& TestPki() {
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
    p->ca_key = p->dir + "/ca.key";
    p->other_ca = p->dir + "/other.crt";
    p->other_ca_key = p->dir + "/other.key";
    p->server_cert = p->dir + "/server.crt";
    p->server_key = p->dir + "/server.key";
    p->client_cert = p->dir + "/client.crt";
    p->client_key = p->dir + "/client.key";
    p->client_key_encrypted = p->dir + "/client-enc.key";
    WritePem(p->ca, ca, nullptr);
    WritePem(p->ca_key, nullptr, ca_key);  // to sign CRLs (tls_crl_test)
    WritePem(p->other_ca, other, nullptr);
    WritePem(p->other_ca_key, nullptr, other_key);
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

inline int Listen(int* port) {
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

inline SSL_CTX* ServerTls(bool require_client_cert = false) {
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

}  // namespace walrep::transport_testing

#endif  // WALREP_WIRE_TRANSPORT_TEST_UTIL_H_
