#include "wire/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/tls_crl.h"

namespace walrep {
namespace {

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE when the server has gone
// away and would kill the agent. This method is the socket BIO with its write replaced by
// send(MSG_NOSIGNAL) — the same trick libpq uses. Created once, intentionally never freed.
int NoSigpipeWrite(BIO* bio, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  ssize_t n = send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

BIO_METHOD* NoSigpipeSocketMethod() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "walrep socket");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_write(m, NoSigpipeWrite);
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// libpq's test for leaving out SNI: digits and dots only, or any ':' (IPv6).
bool LooksLikeIpAddress(const std::string& host) {
  return host.find_first_not_of("0123456789.") == std::string::npos ||
         host.find(':') != std::string::npos;
}

// Supplies TlsOptions::key_password to OpenSSL; returning 0 for an empty password makes
// an encrypted key fail to load rather than prompting on the terminal.
int KeyPasswordCallback(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (password == nullptr || size <= 0) return 0;
  int n = static_cast<int>(std::min<size_t>(password->size(), static_cast<size_t>(size)));
  std::memcpy(buf, password->data(), static_cast<size_t>(n));
  return n;
}

std::string SubjectCommonName(X509* cert) {
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                sizeof(cn)) < 0) {
    return "";
  }
  return cn;
}

}  // namespace

absl::StatusOr<SslMode> ParseSslMode(absl::string_view text) {
  static constexpr SslMode kAll[] = {SslMode::kDisable, SslMode::kAllow,
                                     SslMode::kPrefer,  SslMode::kRequire,
                                     SslMode::kVerifyCa, SslMode::kVerifyFull};
  for (SslMode m : kAll) {
    if (SslModeName(m) == text) return m;
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid sslmode value: \"", text, "\""));
}

absl::StatusOr<int> ParseTlsProtocolVersion(absl::string_view name) {
  if (name.empty()) return 0;
  static constexpr struct {
    const char* name;
    int version;
  } kVersions[] = {{"TLSv1", TLS1_VERSION},
                   {"TLSv1.1", TLS1_1_VERSION},
                   {"TLSv1.2", TLS1_2_VERSION},
                   {"TLSv1.3", TLS1_3_VERSION}};
  for (const auto& v : kVersions) {
    if (absl::EqualsIgnoreCase(name, v.name)) return v.version;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid SSL protocol version \"", name, "\""));
}

absl::string_view SslModeName(SslMode mode) {
  switch (mode) {
    case SslMode::kDisable: return "disable";
    case SslMode::kAllow: return "allow";
    case SslMode::kPrefer: return "prefer";
    case SslMode::kRequire: return "require";
    case SslMode::kVerifyCa: return "verify-ca";
    case SslMode::kVerifyFull: return "verify-full";
  }
  return "unknown";
}

std::string DefaultPostgresqlDir() {
  const char* home = std::getenv("HOME");
  std::string dir = home != nullptr ? home : "";
  if (dir.empty()) {
    struct passwd pw;
    struct passwd* result = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &result) == 0 && result) {
      dir = result->pw_dir;
    }
  }
  return dir + "/.postgresql";
}

std::string DrainOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    absl::StrAppend(&out, out.empty() ? "" : ": ",
                    reason != nullptr ? reason : absl::StrCat("error ", e));
  }
  return out;
}

absl::Status CheckKeyFilePermissions(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not stat private key file \"", path, "\": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key file \"", path, "\" is not a regular file"));
  }
  bool too_open = st.st_uid == 0 ? (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0
                                 : (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
  if (too_open) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key file \"", path,
        "\" has group or world access; file must have permissions u=rw (0600) or less "
        "if owned by the current user, or permissions u=rw,g=r (0640) or less if owned "
        "by root"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TlsSession>> TlsSession::Create(int fd,
                                                               const TlsOptions& options) {
  if (options.sslmode == SslMode::kDisable) {
    return absl::InvalidArgumentError("TLS requested with sslmode=disable");
  }
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->mode_ = options.sslmode;
  s->server_host_ = options.server_host;
  ERR_clear_error();
  s->ctx_ = SSL_CTX_new(TLS_client_method());
  if (s->ctx_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("could not create SSL context: ", DrainOpenSslErrors()));
  }
  // ssl_min/max_protocol_version; libpq's default minimum is TLSv1.2.
  for (bool is_min : {true, false}) {
    const std::string& name = is_min ? options.min_protocol : options.max_protocol;
    absl::StatusOr<int> version = ParseTlsProtocolVersion(name);
    if (!version.ok()) return version.status();
    if (*version == 0) continue;
    int ok = is_min ? SSL_CTX_set_min_proto_version(s->ctx_, *version)
                    : SSL_CTX_set_max_proto_version(s->ctx_, *version);
    if (ok != 1) {
      return absl::InvalidArgumentError(absl::StrCat("could not set ",
                                                     is_min ? "minimum" : "maximum",
                                                     " SSL protocol version: ",
                                                     DrainOpenSslErrors()));
    }
  }
  // libpq's sslcompression: SSL_OP_NO_COMPRESSION unless compression was asked for.
  if (options.compression) {
    SSL_CTX_clear_options(s->ctx_, SSL_OP_NO_COMPRESSION);
  } else {
    SSL_CTX_set_options(s->ctx_, SSL_OP_NO_COMPRESSION);
  }
  SSL_CTX_set_mode(s->ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  absl::Status st = s->LoadRootCert(options);
  if (st.ok()) st = s->LoadClientCert(options);
  if (!st.ok()) return st;

  s->ssl_ = SSL_new(s->ctx_);
  BIO_METHOD* method = NoSigpipeSocketMethod();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (s->ssl_ == nullptr || bio == nullptr) {
    BIO_free(bio);
    return absl::InternalError(
        absl::StrCat("could not create SSL object: ", DrainOpenSslErrors()));
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(s->ssl_, bio, bio);
  // libpq's sslsni=1: send SNI unless the host is an IP literal (RFC 6066 forbids those).
  if (options.sni && !s->server_host_.empty() && !LooksLikeIpAddress(s->server_host_) &&
      SSL_set_tlsext_host_name(s->ssl_, s->server_host_.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not set SSL server name indication: ", DrainOpenSslErrors()));
  }
  SSL_set_connect_state(s->ssl_);
  return s;
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

absl::Status TlsSession::LoadRootCert(const TlsOptions& options) {
  const bool verify_mode =
      mode_ == SslMode::kVerifyCa || mode_ == SslMode::kVerifyFull;
  if (options.root_cert == "system") {
    if (mode_ != SslMode::kVerifyFull) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weak sslmode \"", SslModeName(mode_),
          "\" may not be used with sslrootcert=system (use \"verify-full\")"));
    }
    if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "could not load system root certificate paths: ", DrainOpenSslErrors()));
    }
    verify_peer_ = true;
  } else {
    std::string path = options.root_cert.empty()
                           ? DefaultPostgresqlDir() + "/root.crt"
                           : options.root_cert;
    if (FileExists(path)) {
      if (SSL_CTX_load_verify_locations(ctx_, path.c_str(), nullptr) != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "could not read root certificate file \"", path, "\": ", DrainOpenSslErrors()));
      }
      // As in libpq, revocation lists come with a root certificate file only.
      absl::Status crl = tls_internal::LoadCrls(ctx_, options.crl_file, options.crl_dir,
                                                DefaultPostgresqlDir());
      if (!crl.ok()) return crl;
      verify_peer_ = true;
    } else if (verify_mode) {
      return absl::InvalidArgumentError(absl::StrCat(
          "root certificate file \"", path,
          "\" does not exist; either provide the file, use the system's trusted roots "
          "with sslrootcert=system, or change sslmode to disable server certificate "
          "verification"));
    }
  }
  SSL_CTX_set_verify(ctx_, verify_peer_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return absl::OkStatus();
}

absl::Status TlsSession::LoadClientCert(const TlsOptions& options) {
  const std::string dir =
      options.cert.empty() || options.key.empty() ? DefaultPostgresqlDir() : "";
  const std::string cert = options.cert.empty() ? dir + "/postgresql.crt" : options.cert;
  if (!FileExists(cert)) return absl::OkStatus();  // As libpq: no client certificate.
  if (SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not read certificate file \"", cert, "\": ", DrainOpenSslErrors()));
  }
  const std::string key = options.key.empty() ? dir + "/postgresql.key" : options.key;
  if (!FileExists(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate present, but not private key file \"", key, "\""));
  }
  if (absl::Status st = CheckKeyFilePermissions(key); !st.ok()) return st;
  std::string password = options.key_password;
  SSL_CTX_set_default_passwd_cb(ctx_, KeyPasswordCallback);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, &password);
  int ok = SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
  // The callback's userdata is about to dangle; the key is decrypted by now.
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);
  if (!password.empty()) OPENSSL_cleanse(password.data(), password.size());
  if (ok != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not load private key file \"", key, "\": ", DrainOpenSslErrors()));
  }
  if (SSL_CTX_check_private_key(ctx_) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate does not match private key file \"", key, "\": ",
        DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status TlsSession::HandshakeError(absl::string_view detail) const {
  long verify = SSL_get_verify_result(ssl_);
  if (verify_peer_ && verify != X509_V_OK) {
    return absl::FailedPreconditionError(
        absl::StrCat("server certificate verify failed: ",
                     X509_verify_cert_error_string(verify)));
  }
  return absl::UnavailableError(absl::StrCat("SSL handshake failed: ", detail));
}

absl::Status TlsSession::CheckPeerName() const {
  if (mode_ != SslMode::kVerifyFull) return absl::OkStatus();
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    return absl::FailedPreconditionError("server did not present a certificate");
  }
  if (server_host_.empty()) {
    return absl::InvalidArgumentError(
        "host name must be specified for a verified SSL connection");
  }
  // X509_check_host consults the CN only when the certificate has no DNS SAN, which is
  // libpq's rule. An IP literal matches an iPAddress SAN, or (as libpq also allows) a
  // DNS SAN/CN spelling the same address.
  const unsigned int flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
  bool match = X509_check_host(cert, server_host_.data(), server_host_.size(), flags,
                               nullptr) == 1;
  if (!match && IsIpLiteral(server_host_)) {
    match = X509_check_ip_asc(cert, server_host_.c_str(), 0) == 1;
  }
  ERR_clear_error();
  if (match) return absl::OkStatus();
  std::string cn = SubjectCommonName(cert);
  return absl::FailedPreconditionError(absl::StrCat(
      "server certificate", cn.empty() ? "" : absl::StrCat(" for \"", cn, "\""),
      " does not match host name \"", server_host_, "\""));
}

absl::StatusOr<std::string> TlsSession::ServerEndPointHash() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    return absl::FailedPreconditionError("server did not present a certificate");
  }
  int md_nid = NID_undef;
  int pk_nid = NID_undef;
  if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid) != 1) {
    return absl::FailedPreconditionError(
        "could not determine server certificate signature algorithm");
  }
  const EVP_MD* md = (md_nid == NID_md5 || md_nid == NID_sha1)
                         ? EVP_sha256()
                         : EVP_get_digestbynid(md_nid);
  if (md == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "could not find digest for server certificate signature algorithm NID ", md_nid));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, out, &len) != 1) {
    return absl::InternalError(absl::StrCat("could not hash server certificate: ",
                                            DrainOpenSslErrors()));
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace walrep
