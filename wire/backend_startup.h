// Decoders for the backend messages of the startup/authentication phase:
// Authentication* ('R'), ParameterStatus ('S'), BackendKeyData ('K'), ReadyForQuery ('Z')
// and NegotiateProtocolVersion ('v'). Each takes the message body (Frame::body, without
// type byte and length) and returns owning values. Pure functions; safe from any thread.
// Malformed bodies (short, trailing bytes, missing terminators, counts over caps) are
// DataLoss naming the message.
#ifndef WALREP_WIRE_BACKEND_STARTUP_H_
#define WALREP_WIRE_BACKEND_STARTUP_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// Authentication request codes (int32 after 'R').
enum class AuthCode : int32_t {
  kOk = 0,
  kKerberosV5 = 2,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kGss = 7,
  kGssContinue = 8,
  kSspi = 9,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

// Caps on what a server may list; real servers send one or two mechanisms.
inline constexpr size_t kMaxSaslMechanisms = 32;
inline constexpr size_t kMaxUnrecognizedOptions = 256;

// Any Authentication message. Codes this client does not implement (KerberosV5, GSS,
// SSPI, and any unknown number) still decode, with `code` set and the remaining bytes in
// `data`, so the caller can report "unsupported authentication method N".
struct AuthenticationRequest {
  int32_t code = 0;
  std::array<uint8_t, 4> md5_salt{};         // kMd5Password
  std::vector<std::string> sasl_mechanisms;  // kSasl, in server order
  std::string data;  // kSaslContinue / kSaslFinal / kGssContinue payload; unknown: rest
};
absl::StatusOr<AuthenticationRequest> DecodeAuthentication(absl::string_view body);

struct ParameterStatus {
  std::string name;
  std::string value;
};
absl::StatusOr<ParameterStatus> DecodeParameterStatus(absl::string_view body);

// The cancel key. Protocol 3.0 sends 4 bytes; 3.2 allows up to 256, so the key is kept as
// bytes and echoed back verbatim in a CancelRequest.
struct BackendKeyData {
  int32_t process_id = 0;
  std::string secret_key;
};
absl::StatusOr<BackendKeyData> DecodeBackendKeyData(absl::string_view body);

enum class TransactionStatus : char { kIdle = 'I', kInTransaction = 'T', kFailed = 'E' };
// ReadyForQuery: exactly one byte, one of I/T/E.
absl::StatusOr<TransactionStatus> DecodeReadyForQuery(absl::string_view body);

// NegotiateProtocolVersion: the server speaks an older minor version and/or ignored some
// "_pq_." startup options.
struct NegotiateProtocolVersion {
  int32_t newest_minor_version = 0;
  std::vector<std::string> unrecognized_options;
};
absl::StatusOr<NegotiateProtocolVersion> DecodeNegotiateProtocolVersion(absl::string_view body);

}  // namespace walrep

#endif  // WALREP_WIRE_BACKEND_STARTUP_H_
