#include "wire/frontend.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "wire/bytes.h"
#include "wire/framing.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

absl::Status CheckNoNul(absl::string_view what, absl::string_view s) {
  if (HasNul(s)) return absl::InvalidArgumentError(absl::StrCat(what, " contains a NUL byte"));
  return absl::OkStatus();
}

absl::Status CheckBodySize(absl::string_view what, size_t size) {
  if (size > kMaxEncodedBody) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " of ", size, " bytes is too large to send"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeStartupMessage(const StartupParameters& params) {
  std::string out;
  ByteWriter w(&out);
  w.PutU32(0);  // patched below
  w.PutI32(kProtocolVersion30);
  for (const auto& [key, value] : params) {
    // An empty key would read as the list terminator.
    if (key.empty()) return absl::InvalidArgumentError("startup parameter with an empty name");
    if (HasNul(key) || HasNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("startup parameter \"", absl::CEscape(key), "\" contains a NUL byte"));
    }
    w.PutCString(key);
    w.PutCString(value);
    if (out.size() + 1 > kMaxStartupPacket) {
      return absl::InvalidArgumentError(absl::StrCat("startup packet exceeds ", kMaxStartupPacket,
                                                     " bytes (at parameter \"", key, "\")"));
    }
  }
  w.PutU8(0);
  w.PatchU32(0, static_cast<uint32_t>(out.size()));
  return out;
}

std::string EncodeSslRequest() {
  std::string out;
  ByteWriter w(&out);
  w.PutU32(8);
  w.PutI32(kSslRequestCode);
  return out;
}

absl::StatusOr<std::string> EncodeCancelRequest(int32_t process_id, absl::string_view secret_key) {
  if (secret_key.empty() || secret_key.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("cancel key of ", secret_key.size(), " bytes (1 to 256 expected)"));
  }
  std::string out;
  ByteWriter w(&out);
  w.PutU32(static_cast<uint32_t>(12 + secret_key.size()));
  w.PutI32(kCancelRequestCode);
  w.PutI32(process_id);
  w.PutBytes(secret_key);
  return out;
}

absl::StatusOr<std::string> EncodePasswordMessage(absl::string_view password) {
  // Never echo the password itself into the error.
  RETURN_IF_ERROR(CheckNoNul("password", password));
  RETURN_IF_ERROR(CheckBodySize("password", password.size()));
  std::string body;
  ByteWriter(&body).PutCString(password);
  return EncodeFrame('p', body);
}

absl::StatusOr<std::string> EncodeSaslInitialResponse(
    absl::string_view mechanism, std::optional<absl::string_view> initial_response) {
  RETURN_IF_ERROR(CheckNoNul("SASL mechanism name", mechanism));
  if (mechanism.empty()) return absl::InvalidArgumentError("empty SASL mechanism name");
  size_t payload = initial_response.has_value() ? initial_response->size() : 0;
  RETURN_IF_ERROR(CheckBodySize("SASL initial response", mechanism.size() + payload));
  std::string body;
  ByteWriter w(&body);
  w.PutCString(mechanism);
  if (initial_response.has_value()) {
    w.PutI32(static_cast<int32_t>(initial_response->size()));
    w.PutBytes(*initial_response);
  } else {
    w.PutI32(-1);
  }
  return EncodeFrame('p', body);
}

absl::StatusOr<std::string> EncodeSaslResponse(absl::string_view data) {
  RETURN_IF_ERROR(CheckBodySize("SASL response", data.size()));
  return EncodeFrame('p', data);
}

absl::StatusOr<std::string> EncodeQuery(absl::string_view sql) {
  RETURN_IF_ERROR(CheckNoNul("query", sql));
  RETURN_IF_ERROR(CheckBodySize("query", sql.size()));
  std::string body;
  ByteWriter(&body).PutCString(sql);
  return EncodeFrame('Q', body);
}

absl::StatusOr<std::string> EncodeBindExecuteSync(
    absl::string_view statement, absl::Span<const std::optional<std::string>> params) {
  RETURN_IF_ERROR(CheckNoNul("statement name", statement));
  if (params.size() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("Bind with ", params.size(), " parameters (at most 65535)"));
  }
  std::string bind;
  ByteWriter w(&bind);
  w.PutCString("");  // the unnamed portal
  w.PutCString(statement);
  w.PutI16(0);  // parameter formats: all text
  w.PutI16(static_cast<int16_t>(params.size()));
  for (const std::optional<std::string>& p : params) {
    if (!p.has_value()) {
      w.PutI32(-1);
      continue;
    }
    RETURN_IF_ERROR(CheckBodySize("Bind parameter", p->size()));
    w.PutI32(static_cast<int32_t>(p->size()));
    w.PutBytes(*p);
  }
  w.PutI16(0);  // result formats: all text
  RETURN_IF_ERROR(CheckBodySize("Bind", bind.size()));
  std::string execute;
  ByteWriter e(&execute);
  e.PutCString("");
  e.PutI32(0);  // no row limit
  return absl::StrCat(EncodeFrame('B', bind), EncodeFrame('E', execute), EncodeFrame('S', ""));
}

absl::StatusOr<std::string> EncodeCopyData(absl::string_view data) {
  RETURN_IF_ERROR(CheckBodySize("CopyData", data.size()));
  return EncodeFrame('d', data);
}

std::string EncodeCopyDone() { return EncodeFrame('c', ""); }

absl::StatusOr<std::string> EncodeCopyFail(absl::string_view reason) {
  RETURN_IF_ERROR(CheckNoNul("CopyFail reason", reason));
  RETURN_IF_ERROR(CheckBodySize("CopyFail reason", reason.size()));
  std::string body;
  ByteWriter(&body).PutCString(reason);
  return EncodeFrame('f', body);
}

std::string EncodeTerminate() { return EncodeFrame('X', ""); }

}  // namespace walrep
