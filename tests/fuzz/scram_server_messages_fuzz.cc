// Drives ScramClient with hostile server messages. Input layout (newline
// separated):
//   password \n server-first \n server-final
// The client nonce is fixed to "fuzz" so server-first messages starting
// "r=fuzz…" reach the key derivation. Nothing may crash; a client that accepted
// a server-final message must report itself authenticated.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "wire/scram.h"

namespace {

absl::string_view NextLine(absl::string_view* rest) {
  size_t nl = rest->find('\n');
  absl::string_view line = rest->substr(0, nl);
  rest->remove_prefix(nl == absl::string_view::npos ? rest->size() : nl + 1);
  return line;
}

// PBKDF2 with a server-chosen count up to kScramMaxIterations is legitimately
// slow; keep fuzzing iterations cheap without changing what the client accepts.
bool IterationsTooCostly(absl::string_view server_first) {
  size_t at = server_first.find(",i=");
  if (at == absl::string_view::npos) return false;
  absl::string_view digits = server_first.substr(at + 3);
  digits = digits.substr(0, digits.find(','));
  int n = 0;
  return absl::SimpleAtoi(digits, &n) && n > 64;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string password(NextLine(&rest));
  absl::string_view server_first = NextLine(&rest);
  absl::string_view server_final = rest;
  if (IterationsTooCostly(server_first)) return 0;

  (void)walrep::ScramNormalizePassword(password);
  for (auto binding : {walrep::ScramChannelBinding::kNone,
                       walrep::ScramChannelBinding::kTlsServerEndPoint}) {
    std::string cb = binding == walrep::ScramChannelBinding::kNone
                         ? ""
                         : std::string(32, '\x5a');
    auto client =
        walrep::ScramClient::ForTesting(password, binding, cb, "", "fuzz");
    if (!client.ClientFirstMessage().ok()) std::abort();
    auto final_msg = client.HandleServerFirst(server_first);
    if (!final_msg.ok()) {
      if (client.HandleServerFinal(server_final).ok()) std::abort();
      continue;
    }
    if (final_msg->find("r=fuzz") == std::string::npos) std::abort();
    absl::Status st = client.HandleServerFinal(server_final);
    if (st.ok() != client.authenticated()) std::abort();
  }
  return 0;
}
