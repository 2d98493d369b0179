// Certificate revocation lists for the server certificate check: libpq's sslcrl and
// sslcrldir. Internal to wire:tls (TlsSession::Create calls it); a function over an
// SSL_CTX being configured, thread-compatible.
//
// As in libpq, CRLs are consulted only where the chain is verified against a root
// certificate file (verify-ca, verify-full, or require/prefer/allow with a root.crt
// present) — not with sslrootcert=system, where libpq loads none either. The file's CRLs
// and the directory (CRLs named by issuer hash, `<hash>.r0`, as `openssl rehash` names
// them) go into the verification store with X509_V_FLAG_CRL_CHECK |
// X509_V_FLAG_CRL_CHECK_ALL: every certificate in the chain then needs a current CRL from
// its issuer, and a revoked one fails the handshake ("certificate revoked"). With neither
// set, ~/.postgresql/root.crl is used when it exists.
//
// Deliberate differences from libpq, both failing closed:
//  - libpq ignores a CRL it cannot load ("we do not require CRL"), so a mistyped sslcrl
//    silently turns revocation checking off. An sslcrl/sslcrldir that is named here but
//    missing, unreadable or (for the file) holds no CRL is a configuration error. The
//    implicit default root.crl stays optional, as in libpq.
//  - libpq's loader also adds any certificates found in the CRL file as trust anchors;
//    only CRLs are taken from it here.
#ifndef WALREP_WIRE_TLS_CRL_H_
#define WALREP_WIRE_TLS_CRL_H_

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace walrep::tls_internal {

// Adds the CRLs to `ctx`'s certificate store and turns CRL checking on. `default_dir` is
// where root.crl is looked for when both paths are empty. InvalidArgument for a named
// file or directory that cannot be used.
absl::Status LoadCrls(SSL_CTX* ctx, const std::string& crl_file, const std::string& crl_dir,
                      const std::string& default_dir);

}  // namespace walrep::tls_internal

#endif  // WALREP_WIRE_TLS_CRL_H_
