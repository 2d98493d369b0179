// ConnInfo::Parse must never crash. Anything it accepts must render (Redacted) without
// the password, and that rendering must parse back to the same settings.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "wire/conninfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto info = walrep::ConnInfo::Parse(text);
  if (!info.ok()) return 0;
  const std::string shown = info->Redacted();

  // The rendering must not depend on the password's value at all: swapping in a
  // different password leaves it unchanged, and a distinctive one never appears in it.
  if (info->has_password()) {
    const std::string canary = "\x01walrep-password-canary\x02";
    walrep::ConnInfo other = *info;
    if (!other.Set("password", canary).ok()) std::abort();
    if (other.Redacted() != shown) std::abort();
    if (absl::StrContains(other.Redacted(), canary)) std::abort();
    if (other.password() != canary) std::abort();
  }

  // Redacted() reads back to the same values (the two passwords become the mask).
  auto again = walrep::ConnInfo::Parse(shown);
  if (!again.ok()) std::abort();
  if (again->SetKeywords() != info->SetKeywords()) std::abort();
  for (const std::string& k : info->SetKeywords()) {
    if (k == "password" || k == "sslpassword") continue;  // both masked
    if (again->Get(k) != info->Get(k)) std::abort();
  }

  // Validation and endpoint splitting must not crash either.
  if (info->Validate().ok() && !info->Endpoints().ok()) std::abort();
  return 0;
}
