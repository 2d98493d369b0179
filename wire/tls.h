// TLS for one client connection, with libpq's sslmode semantics. TlsSession owns the
// OpenSSL SSL_CTX and SSL objects and knows how to configure and check them; it does no
// waiting itself — Transport drives the non-blocking handshake and I/O (see
// transport.h). Not thread-safe; the connection's thread owns it.
//
// sslmode, as libpq applies it once the server has answered SSLRequest with 'S':
//   allow, prefer, require — encrypt; verify the chain only if a root certificate file
//       exists (libpq's backwards-compatible rule: with ~/.postgresql/root.crt present,
//       require behaves like verify-ca).
//   verify-ca   — the chain must verify against the root certificate; the file must exist.
//   verify-full — verify-ca, and the server host name (or IP literal) must match the
//       certificate's subjectAltName entries (the CN only when there is no DNS SAN).
//   disable     — never reaches TLS; StartTls refuses it.
// Also as libpq: sslcrl/sslcrldir and ~/.postgresql/root.crl (tls_crl.h), sslsni,
// sslcompression and ssl_min/max_protocol_version. Not implemented: sslcertmode (PG 16;
// rejected by ConnInfo) and OpenSSL engine keys (sslkey=engine:key). Whether to send
// SSLRequest at all, and the plain-text fallbacks of allow/prefer, are the connection's
// business.
//
// Status codes: local configuration (missing or unreadable certificate/key files, key file
// permissions, weak sslmode with sslrootcert=system) → InvalidArgument; the server's
// certificate failing verification (chain or host name) → FailedPrecondition with
// "certificate" in the message — retrying will not help; other handshake failures →
// Unavailable.
#ifndef WALREP_WIRE_TLS_H_
#define WALREP_WIRE_TLS_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class SslMode { kDisable, kAllow, kPrefer, kRequire, kVerifyCa, kVerifyFull };

// "disable", "allow", "prefer", "require", "verify-ca", "verify-full".
absl::StatusOr<SslMode> ParseSslMode(absl::string_view text);
absl::string_view SslModeName(SslMode mode);

struct TlsOptions {
  SslMode sslmode = SslMode::kPrefer;
  // Empty → ~/.postgresql/root.crt (used only if it exists, except under verify-*).
  // "system" → OpenSSL's default trust store; requires verify-full, as in libpq.
  std::string root_cert;
  // Empty → ~/.postgresql/postgresql.crt; a missing file means no client certificate.
  std::string cert;
  // Empty → ~/.postgresql/postgresql.key. Must not be group/world accessible.
  std::string key;
  // Decrypts an encrypted key. Never logged or echoed in errors. When empty, an
  // encrypted key fails to load instead of prompting on a terminal.
  std::string key_password;
  // SNI and verify-full target. Empty → the host the Transport was connected with.
  std::string server_host;
  // sslcrl / sslcrldir; both empty → ~/.postgresql/root.crl if it exists (tls_crl.h).
  std::string crl_file;
  std::string crl_dir;
  // sslsni: send the host name in the ClientHello (never an IP literal, per RFC 6066).
  bool sni = true;
  // sslcompression=1: leave OpenSSL's TLS compression allowed, as libpq does (OpenSSL 3
  // and TLS 1.3 do not compress anyway); otherwise SSL_OP_NO_COMPRESSION.
  bool compression = false;
  // ssl_min/max_protocol_version: "TLSv1", "TLSv1.1", "TLSv1.2" or "TLSv1.3" in any case;
  // empty → no bound of ours (OpenSSL's own defaults apply).
  std::string min_protocol = "TLSv1.2";
  std::string max_protocol;
};

// libpq's protocol version names → OpenSSL's TLS1_*_VERSION; 0 for "" (no bound).
// InvalidArgument for anything else.
absl::StatusOr<int> ParseTlsProtocolVersion(absl::string_view name);

// libpq's private-key permission rule: a regular file, no group/world bits when owned by
// the current user (0600 or less), or at most 0640 when owned by root (so a system key
// can be shared with a group). Violations are configuration errors → InvalidArgument.
absl::Status CheckKeyFilePermissions(const std::string& path);

// The directory libpq looks in for default TLS files: $HOME/.postgresql, or the passwd
// entry's home when HOME is unset.
std::string DefaultPostgresqlDir();

class TlsSession {
 public:
  // Configures a client SSL for the connected socket `fd` (not owned). Loads trust roots
  // and the client certificate per `options`; the handshake has not started yet.
  static absl::StatusOr<std::unique_ptr<TlsSession>> Create(int fd,
                                                            const TlsOptions& options);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  SSL* ssl() const { return ssl_; }
  // True when the chain is verified during the handshake.
  bool verifies_peer() const { return verify_peer_; }

  // After SSL_connect failed fatally: the status to report (certificate verification
  // failures become FailedPrecondition). `detail` is the OpenSSL error text collected.
  absl::Status HandshakeError(absl::string_view detail) const;

  // After a successful handshake: verify-full's host name check (no-op otherwise).
  absl::Status CheckPeerName() const;

  // RFC 5929 tls-server-end-point: the server certificate's DER hashed with its signature
  // digest, SHA-256 when that is MD5 or SHA-1 (as PostgreSQL's server computes it).
  absl::StatusOr<std::string> ServerEndPointHash() const;

 private:
  TlsSession() = default;
  absl::Status LoadRootCert(const TlsOptions& options);
  absl::Status LoadClientCert(const TlsOptions& options);

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  SslMode mode_ = SslMode::kPrefer;
  std::string server_host_;
  bool verify_peer_ = false;
};

// OpenSSL's queued error reasons joined with ": " (and the queue cleared).
std::string DrainOpenSslErrors();

}  // namespace walrep

#endif  // WALREP_WIRE_TLS_H_
