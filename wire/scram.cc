#include "wire/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "wire/utf8.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr size_t kKeyLen = SHA256_DIGEST_LENGTH;
// PostgreSQL's client uses 18 random bytes (24 base64 characters).
constexpr size_t kNonceRawLen = 18;
// Server messages are a few hundred bytes; anything far larger is hostile.
constexpr size_t kMaxServerMessage = 4096;

std::string Hmac(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256(absl::string_view data) {
  unsigned char out[kKeyLen];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), kKeyLen);
}

// Wipes key material before releasing it; the optimizer cannot drop
// OPENSSL_cleanse.
void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

// printable = %x21-2B / %x2D-7E (RFC 5802): the nonce alphabet.
bool IsPrintableNonce(absl::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || u == ',') return false;
  }
  return !s.empty();
}

// Splits "a=value" and checks the attribute letter.
bool TakeAttr(absl::string_view part, char attr, absl::string_view* value) {
  if (part.size() < 2 || part[0] != attr || part[1] != '=') return false;
  *value = part.substr(2);
  return true;
}

bool IsExtensionAttr(absl::string_view part) {
  return part.size() >= 2 &&
         ((part[0] >= 'a' && part[0] <= 'z') ||
          (part[0] >= 'A' && part[0] <= 'Z')) &&
         part[1] == '=';
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed SCRAM message: ", what));
}

// --- SASLprep subset (see header)
// -------------------------------------------------

// Decodes strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool DecodeUtf8(absl::string_view in, std::vector<uint32_t>* out) {
  size_t i = 0;
  while (i < in.size()) {
    auto b0 = static_cast<unsigned char>(in[i]);
    int len;
    uint32_t cp;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > in.size()) return false;
    for (int k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    out->push_back(cp);
    i += len;
  }
  return true;
}

// RFC 3454 C.1.2: non-ASCII space characters, mapped to U+0020 by RFC 4013.
bool IsNonAsciiSpace(uint32_t c) {
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// RFC 3454 B.1: commonly mapped to nothing.
bool IsMappedToNothing(uint32_t c) {
  return c == 0xAD || c == 0x34F || c == 0x1806 ||
         (c >= 0x180B && c <= 0x180D) || (c >= 0x200B && c <= 0x200D) ||
         c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF;
}

// RFC 4013 prohibited output: RFC 3454 C.1.2, C.2.1, C.2.2, C.3–C.9.
bool IsProhibited(uint32_t c) {
  if (IsNonAsciiSpace(c)) return true;
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
    return true;  // C.2.1/C.2.2
  if (c == 0x6DD || c == 0x70F || c == 0x180E || (c >= 0x200C && c <= 0x200F) ||
      (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2063) ||
      (c >= 0x206A && c <= 0x206F) || c == 0xFEFF ||
      (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0x1D173 && c <= 0x1D17A))
    return true;                                                  // C.2.2, C.8
  if ((c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return true;  // C.3
  if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE)
    return true;                                                    // C.4
  if (c >= 0xFFF9 && c <= 0xFFFD) return true;                      // C.6, C.7
  if (c >= 0x2FF0 && c <= 0x2FFB) return true;                      // C.7
  if (c == 0x340 || c == 0x341) return true;                        // C.8
  if (c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F)) return true;  // C.9
  return false;
}

}  // namespace

std::string ScramNormalizePassword(absl::string_view password) {
  bool ascii = true;
  for (char c : password) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(password);
  std::vector<uint32_t> cps;
  if (!DecodeUtf8(password, &cps)) return std::string(password);
  std::string out;
  size_t kept = 0;
  for (uint32_t c : cps) {
    if (IsMappedToNothing(c)) continue;
    if (IsNonAsciiSpace(c)) c = 0x20;
    if (IsProhibited(c)) return std::string(password);
    AppendUtf8(c, &out);
    ++kept;
  }
  if (kept == 0) return std::string(password);
  return out;
}

ScramClient::ScramClient(std::string password, ScramChannelBinding binding,
                         std::string cb_data)
    : password_(std::move(password)),
      binding_(binding),
      cb_data_(std::move(cb_data)) {}

ScramClient ScramClient::ForTesting(std::string password,
                                    ScramChannelBinding binding,
                                    std::string cb_data, std::string user,
                                    std::string client_nonce) {
  ScramClient c(std::move(password), binding, std::move(cb_data));
  c.user_ = std::move(user);
  c.client_nonce_ = std::move(client_nonce);
  return c;
}

ScramClient::~ScramClient() {
  Wipe(&password_);
  Wipe(&expected_server_signature_);
}

absl::string_view ScramClient::MechanismName() const {
  return binding_ == ScramChannelBinding::kTlsServerEndPoint
             ? "SCRAM-SHA-256-PLUS"
             : "SCRAM-SHA-256";
}

std::string ScramClient::Gs2Header() const {
  switch (binding_) {
    case ScramChannelBinding::kNone:
      return "n,,";
    case ScramChannelBinding::kClientSupports:
      return "y,,";
    case ScramChannelBinding::kTlsServerEndPoint:
      return "p=tls-server-end-point,,";
  }
  return "n,,";
}

absl::Status ScramClient::Fail(absl::Status status) {
  state_ = State::kFailed;
  Wipe(&password_);
  return status;
}

absl::StatusOr<std::string> ScramClient::ClientFirstMessage() {
  if (state_ != State::kInitial) {
    return absl::FailedPreconditionError(
        "SCRAM client-first message already produced");
  }
  if ((binding_ == ScramChannelBinding::kTlsServerEndPoint) ==
      cb_data_.empty()) {
    return Fail(
        absl::InvalidArgumentError("SCRAM channel binding data must be given "
                                   "exactly for tls-server-end-point"));
  }
  if (client_nonce_.empty()) {
    unsigned char raw[kNonceRawLen];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
      return Fail(absl::InternalError("could not generate SCRAM nonce"));
    }
    client_nonce_ = absl::Base64Escape(
        absl::string_view(reinterpret_cast<char*>(raw), sizeof(raw)));
  }
  if (!IsPrintableNonce(client_nonce_)) {
    return Fail(absl::InvalidArgumentError("invalid SCRAM client nonce"));
  }
  // RFC 5802 saslname escaping; PostgreSQL ignores the name, only tests set
  // one.
  std::string name;
  for (char c : user_) {
    if (c == ',') {
      name += "=2C";
    } else if (c == '=') {
      name += "=3D";
    } else {
      name.push_back(c);
    }
  }
  client_first_bare_ = absl::StrCat("n=", name, ",r=", client_nonce_);
  state_ = State::kSentClientFirst;
  return absl::StrCat(Gs2Header(), client_first_bare_);
}

absl::StatusOr<std::string> ScramClient::HandleServerFirst(
    absl::string_view msg) {
  if (state_ != State::kSentClientFirst) {
    return Fail(
        absl::FailedPreconditionError("unexpected SCRAM server-first message"));
  }
  if (msg.size() > kMaxServerMessage)
    return Fail(Malformed("server-first too long"));
  absl::string_view err;
  if (TakeAttr(msg, 'e', &err)) {
    return Fail(absl::PermissionDeniedError(
        absl::StrCat("SCRAM authentication failed: ", err)));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(msg, ',');
  if (!parts.empty() && TakeAttr(parts[0], 'm', &err)) {
    return Fail(Malformed("unsupported mandatory extension in server-first"));
  }
  absl::string_view nonce, salt_b64, iter_text;
  if (parts.size() < 3 || !TakeAttr(parts[0], 'r', &nonce) ||
      !TakeAttr(parts[1], 's', &salt_b64) ||
      !TakeAttr(parts[2], 'i', &iter_text)) {
    return Fail(Malformed("expected r=,s=,i= in server-first"));
  }
  for (size_t k = 3; k < parts.size(); ++k) {
    if (!IsExtensionAttr(parts[k]))
      return Fail(Malformed("garbage after server-first"));
  }
  if (!IsPrintableNonce(nonce) || nonce.size() <= client_nonce_.size() ||
      nonce.substr(0, client_nonce_.size()) != client_nonce_) {
    return Fail(
        absl::InvalidArgumentError("invalid SCRAM response (nonce mismatch)"));
  }
  std::string salt;
  if (salt_b64.empty() || !absl::Base64Unescape(salt_b64, &salt) ||
      salt.empty()) {
    return Fail(Malformed("invalid salt"));
  }
  int iterations = 0;
  bool digits = !iter_text.empty() && iter_text.size() <= 10;
  for (char c : iter_text) digits &= (c >= '0' && c <= '9');
  if (!digits || !absl::SimpleAtoi(iter_text, &iterations) || iterations < 1 ||
      iterations > kScramMaxIterations) {
    return Fail(Malformed(
        absl::StrCat("iteration count must be 1..", kScramMaxIterations)));
  }

  std::string prepared = ScramNormalizePassword(password_);
  std::string salted(kKeyLen, '\0');
  int ok =
      PKCS5_PBKDF2_HMAC(prepared.data(), static_cast<int>(prepared.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(kKeyLen),
                        reinterpret_cast<unsigned char*>(salted.data()));
  Wipe(&prepared);
  Wipe(&password_);  // Not needed past this point.
  if (ok != 1) return Fail(absl::InternalError("PBKDF2 failed"));

  std::string client_key = Hmac(salted, "Client Key");
  std::string stored_key = Sha256(client_key);
  std::string server_key = Hmac(salted, "Server Key");
  Wipe(&salted);

  std::string channel = absl::Base64Escape(absl::StrCat(Gs2Header(), cb_data_));
  std::string final_without_proof = absl::StrCat("c=", channel, ",r=", nonce);
  auth_message_ =
      absl::StrCat(client_first_bare_, ",", msg, ",", final_without_proof);
  std::string client_signature = Hmac(stored_key, auth_message_);
  std::string proof(kKeyLen, '\0');
  for (size_t k = 0; k < kKeyLen; ++k)
    proof[k] = client_key[k] ^ client_signature[k];
  expected_server_signature_ = Hmac(server_key, auth_message_);
  Wipe(&client_key);
  Wipe(&stored_key);
  Wipe(&server_key);
  state_ = State::kSentClientFinal;
  return absl::StrCat(final_without_proof, ",p=", absl::Base64Escape(proof));
}

absl::Status ScramClient::HandleServerFinal(absl::string_view msg) {
  if (state_ != State::kSentClientFinal) {
    return Fail(
        absl::FailedPreconditionError("unexpected SCRAM server-final message"));
  }
  if (msg.size() > kMaxServerMessage)
    return Fail(Malformed("server-final too long"));
  std::vector<absl::string_view> parts = absl::StrSplit(msg, ',');
  absl::string_view value;
  if (TakeAttr(parts[0], 'e', &value)) {
    return Fail(absl::PermissionDeniedError(
        absl::StrCat("SCRAM authentication failed: ", value)));
  }
  if (!TakeAttr(parts[0], 'v', &value)) {
    return Fail(Malformed("expected v= in server-final"));
  }
  for (size_t k = 1; k < parts.size(); ++k) {
    if (!IsExtensionAttr(parts[k]))
      return Fail(Malformed("garbage after server-final"));
  }
  std::string signature;
  if (!absl::Base64Unescape(value, &signature) || signature.size() != kKeyLen) {
    return Fail(Malformed("invalid server signature"));
  }
  if (CRYPTO_memcmp(signature.data(), expected_server_signature_.data(),
                    kKeyLen) != 0) {
    return Fail(absl::PermissionDeniedError("server signature mismatch"));
  }
  state_ = State::kDone;
  return absl::OkStatus();
}

}  // namespace walrep
