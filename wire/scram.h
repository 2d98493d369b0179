// SCRAM-SHA-256 (RFC 5802, RFC 7677) client side of PostgreSQL's SASL exchange,
// as a pure state machine: it produces the client messages and checks the
// server's, but does no I/O, so the connection decides how the bytes travel
// (AuthenticationSASLContinue/Final) and a fuzz target can drive it with
// arbitrary server input.
//
// Sequence: ClientFirstMessage() → HandleServerFirst(server-first) →
// client-final → HandleServerFinal(server-final). Any error leaves the client
// in a failed state; a new authentication attempt needs a new ScramClient. Not
// thread-safe; one connection owns it.
//
// Channel binding (the GS2 header):
//   kNone             "n,,"  — no TLS, or channel binding disabled.
//   kClientSupports   "y,,"  — on TLS, but the server did not offer
//   SCRAM-SHA-256-PLUS;
//                              tells the server we would have bound, so a MITM
//                              that strips -PLUS from the mechanism list is
//                              detected by the server.
//   kTlsServerEndPoint "p=tls-server-end-point,," — SCRAM-SHA-256-PLUS; the
//   binding data
//                              is the server certificate hash (Transport's
//                              TlsServerEndPointHash()).
#ifndef WALREP_WIRE_SCRAM_H_
#define WALREP_WIRE_SCRAM_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class ScramChannelBinding { kNone, kClientSupports, kTlsServerEndPoint };

// Server-chosen iteration counts above this are refused: PBKDF2 cost is linear
// in it, and a hostile server could otherwise pin a CPU for minutes.
// PostgreSQL's default is 4096.
inline constexpr int kScramMaxIterations = 10'000'000;

class ScramClient {
 public:
  // `cb_data` is the tls-server-end-point hash; it must be non-empty exactly
  // when `binding` is kTlsServerEndPoint (checked in ClientFirstMessage()).
  ScramClient(std::string password, ScramChannelBinding binding,
              std::string cb_data = "");

  // Test-only: fixed user name and client nonce, so RFC test vectors can be
  // replayed. PostgreSQL ignores the SCRAM user name; production code always
  // sends "n=,".
  static ScramClient ForTesting(std::string password,
                                ScramChannelBinding binding,
                                std::string cb_data, std::string user,
                                std::string client_nonce);

  ScramClient(ScramClient&&) = default;
  ScramClient& operator=(ScramClient&&) = default;
  ~ScramClient();

  // The SASL mechanism name to put in SASLInitialResponse for this binding.
  absl::string_view MechanismName() const;

  // The client-first message (GS2 header + client-first-bare). Fails only on
  // bad construction arguments or when the random source fails.
  absl::StatusOr<std::string> ClientFirstMessage();

  // Checks the server-first message (nonce continues ours, salt, iteration
  // count) and returns the client-final message with the proof. Malformed input
  // → InvalidArgument; a server `e=` error → PermissionDenied.
  absl::StatusOr<std::string> HandleServerFirst(absl::string_view server_first);

  // Verifies the server signature in constant time. Mismatch → PermissionDenied
  // "server signature mismatch"; `e=` → PermissionDenied with the server's
  // error text.
  absl::Status HandleServerFinal(absl::string_view server_final);

  // True after HandleServerFinal() accepted the server signature.
  bool authenticated() const { return state_ == State::kDone; }

 private:
  enum class State {
    kInitial,
    kSentClientFirst,
    kSentClientFinal,
    kDone,
    kFailed
  };

  std::string Gs2Header() const;
  absl::Status Fail(absl::Status status);

  std::string password_;
  ScramChannelBinding binding_;
  std::string cb_data_;
  std::string user_;          // Empty except in tests.
  std::string client_nonce_;  // Fixed in tests, random otherwise.
  State state_ = State::kInitial;
  std::string client_first_bare_;
  std::string auth_message_;
  std::string expected_server_signature_;  // Raw 32 bytes.
};

// Normalizes a password the way PostgreSQL's pg_saslprep is used by libpq: pure
// ASCII passes through unchanged; bytes that are not valid UTF-8 are used raw;
// valid non-ASCII UTF-8 gets the RFC 4013 mapping step (non-ASCII spaces →
// U+0020, "commonly mapped to nothing" code points removed) and falls back to
// the raw bytes if a prohibited code point remains or the result is empty. Not
// implemented: NFKC normalization and the bidirectional-text rule, so a
// non-ASCII password whose NFKC form differs from its typed form (e.g.
// full-width letters, ligatures) will not match a verifier PostgreSQL computed
// with full SASLprep. Exposed for tests.
std::string ScramNormalizePassword(absl::string_view password);

}  // namespace walrep

#endif  // WALREP_WIRE_SCRAM_H_
