#include "wire/backend_startup.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

absl::Status Malformed(absl::string_view message, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("malformed ", message, ": ", why));
}

absl::Status ExpectEnd(const ByteReader& r, absl::string_view message) {
  if (!r.empty()) {
    return Malformed(message, absl::StrCat(r.remaining(), " unexpected trailing bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuthenticationRequest> DecodeAuthentication(absl::string_view body) {
  constexpr absl::string_view kMsg = "Authentication message";
  ByteReader r(body);
  AuthenticationRequest out;
  if (!r.ReadI32(&out.code)) return Malformed(kMsg, "missing request code");
  switch (static_cast<AuthCode>(out.code)) {
    case AuthCode::kOk:
    case AuthCode::kCleartextPassword:
      if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
      return out;
    case AuthCode::kMd5Password: {
      absl::string_view salt;
      if (!r.ReadBytes(4, &salt)) return Malformed(kMsg, "MD5 salt shorter than 4 bytes");
      for (size_t i = 0; i < 4; ++i) out.md5_salt[i] = static_cast<uint8_t>(salt[i]);
      if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
      return out;
    }
    case AuthCode::kSasl: {
      while (true) {
        absl::string_view name;
        if (!r.ReadCString(&name)) return Malformed(kMsg, "unterminated SASL mechanism list");
        if (name.empty()) break;
        if (out.sasl_mechanisms.size() == kMaxSaslMechanisms) {
          return Malformed(kMsg,
                           absl::StrCat("more than ", kMaxSaslMechanisms, " SASL mechanisms"));
        }
        out.sasl_mechanisms.emplace_back(name);
      }
      if (out.sasl_mechanisms.empty()) return Malformed(kMsg, "empty SASL mechanism list");
      if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
      return out;
    }
    default:
      // SASLContinue/SASLFinal/GSSContinue carry opaque data; unsupported methods keep
      // whatever followed the code so nothing is lost.
      out.data = std::string(r.ReadRest());
      return out;
  }
}

absl::StatusOr<ParameterStatus> DecodeParameterStatus(absl::string_view body) {
  constexpr absl::string_view kMsg = "ParameterStatus";
  ByteReader r(body);
  absl::string_view name, value;
  if (!r.ReadCString(&name)) return Malformed(kMsg, "unterminated name");
  if (!r.ReadCString(&value)) return Malformed(kMsg, "unterminated value");
  if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
  if (name.empty()) return Malformed(kMsg, "empty name");
  return ParameterStatus{std::string(name), std::string(value)};
}

absl::StatusOr<BackendKeyData> DecodeBackendKeyData(absl::string_view body) {
  constexpr absl::string_view kMsg = "BackendKeyData";
  ByteReader r(body);
  BackendKeyData out;
  if (!r.ReadI32(&out.process_id)) return Malformed(kMsg, "missing process id");
  if (r.remaining() < 4 || r.remaining() > 256) {
    return Malformed(kMsg,
                     absl::StrCat("secret key of ", r.remaining(), " bytes (expected 4 to 256)"));
  }
  out.secret_key = std::string(r.ReadRest());
  return out;
}

absl::StatusOr<TransactionStatus> DecodeReadyForQuery(absl::string_view body) {
  constexpr absl::string_view kMsg = "ReadyForQuery";
  if (body.size() != 1) {
    return Malformed(kMsg, absl::StrCat("body of ", body.size(), " bytes (expected 1)"));
  }
  switch (body[0]) {
    case 'I':
    case 'T':
    case 'E':
      return static_cast<TransactionStatus>(body[0]);
    default:
      return Malformed(kMsg, absl::StrCat("unknown transaction status byte ",
                                          static_cast<int>(static_cast<uint8_t>(body[0]))));
  }
}

absl::StatusOr<NegotiateProtocolVersion> DecodeNegotiateProtocolVersion(absl::string_view body) {
  constexpr absl::string_view kMsg = "NegotiateProtocolVersion";
  ByteReader r(body);
  NegotiateProtocolVersion out;
  int32_t count = 0;
  if (!r.ReadI32(&out.newest_minor_version) || !r.ReadI32(&count)) {
    return Malformed(kMsg, "truncated header");
  }
  if (out.newest_minor_version < 0) return Malformed(kMsg, "negative minor version");
  // Each option takes at least its NUL, so the count is bounded by the bytes present.
  if (count < 0 || static_cast<size_t>(count) > kMaxUnrecognizedOptions ||
      static_cast<size_t>(count) > r.remaining()) {
    return Malformed(kMsg, absl::StrCat("option count ", count));
  }
  out.unrecognized_options.reserve(count);
  for (int32_t i = 0; i < count; ++i) {
    absl::string_view option;
    if (!r.ReadCString(&option)) return Malformed(kMsg, "unterminated option name");
    out.unrecognized_options.emplace_back(option);
  }
  if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
  return out;
}

}  // namespace walrep
