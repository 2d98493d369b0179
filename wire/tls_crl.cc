#include "wire/tls_crl.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "wire/tls.h"

namespace walrep::tls_internal {
namespace {

// Every PEM CRL in `path` into `store`. The number added, or an error.
absl::StatusOr<int> AddCrlFile(X509_STORE* store, const std::string& path) {
  BIO* in = BIO_new_file(path.c_str(), "r");
  if (in == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("could not open SSL certificate revocation list file \"", path,
                     "\": ", std::strerror(errno)));
  }
  int added = 0;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(in, nullptr, nullptr, nullptr)) {
    int ok = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    if (ok != 1) {
      BIO_free(in);
      return absl::InvalidArgumentError(
          absl::StrCat("could not add SSL certificate revocation list from \"", path,
                       "\": ", DrainOpenSslErrors()));
    }
    ++added;
  }
  BIO_free(in);
  // Reading stops at end of file with "no start line"; anything else is a damaged PEM.
  unsigned long last = ERR_peek_last_error();
  if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not read SSL certificate revocation list file \"", path,
                     "\": ", DrainOpenSslErrors()));
  }
  ERR_clear_error();
  return added;
}

}  // namespace

absl::Status LoadCrls(SSL_CTX* ctx, const std::string& crl_file, const std::string& crl_dir,
                      const std::string& default_dir) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (store == nullptr) return absl::InternalError("SSL context has no certificate store");
  bool loaded = false;
  if (crl_file.empty() && crl_dir.empty()) {
    // libpq's default, used only if it loads.
    const std::string path = default_dir + "/root.crl";
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return absl::OkStatus();
    absl::StatusOr<int> added = AddCrlFile(store, path);
    if (!added.ok() || *added == 0) return absl::OkStatus();
    loaded = true;
  }
  if (!crl_file.empty()) {
    absl::StatusOr<int> added = AddCrlFile(store, crl_file);
    if (!added.ok()) return added.status();
    if (*added == 0) {
      return absl::InvalidArgumentError(absl::StrCat("SSL certificate revocation list file \"",
                                                     crl_file, "\" contains no PEM CRL"));
    }
    loaded = true;
  }
  if (!crl_dir.empty()) {
    struct stat st;
    if (stat(crl_dir.c_str(), &st) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("could not open SSL certificate revocation list directory \"", crl_dir,
                       "\": ", std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("SSL certificate revocation list directory \"",
                                                     crl_dir, "\" is not a directory"));
    }
    // Looked up lazily, by issuer hash, while the chain is verified (as libpq's
    // X509_STORE_load_locations(store, NULL, dir) does).
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    if (lookup == nullptr || X509_LOOKUP_add_dir(lookup, crl_dir.c_str(), X509_FILETYPE_PEM) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("could not use SSL certificate revocation list directory \"", crl_dir,
                       "\": ", DrainOpenSslErrors()));
    }
    loaded = true;
  }
  if (loaded) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return absl::OkStatus();
}

}  // namespace walrep::tls_internal
