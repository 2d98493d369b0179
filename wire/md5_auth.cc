#include "wire/md5_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

// Lower-case hex MD5, as PostgreSQL's pg_md5_hash produces. EVP rather than the
// MD5() shortcut, which OpenSSL 3 deprecates.
bool Md5Hex(absl::string_view a, absl::string_view b, std::string* out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return false;
  *out = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
  OPENSSL_cleanse(digest, sizeof(digest));
  return true;
}

}  // namespace

absl::StatusOr<std::string> Md5PasswordHash(absl::string_view user,
                                            absl::string_view password,
                                            absl::string_view salt) {
  if (salt.size() != 4) {
    return absl::InvalidArgumentError(
        "MD5 authentication salt must be 4 bytes");
  }
  std::string inner;
  std::string outer;
  // The inner hash is what pg_authid stores; it is as good as the password, so
  // wipe it.
  bool ok = Md5Hex(password, user, &inner) && Md5Hex(inner, salt, &outer);
  if (!inner.empty()) OPENSSL_cleanse(inner.data(), inner.size());
  if (!ok) return absl::InternalError("MD5 digest unavailable");
  return absl::StrCat("md5", outer);
}

}  // namespace walrep
