#include "wire/backend_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

constexpr char kSqlStatePayloadUrl[] = "walrep/postgres/sqlstate";

std::string* FieldFor(ErrorFields* f, char code) {
  switch (code) {
    case 'S':
      return &f->severity;
    case 'V':
      return &f->severity_nonlocalized;
    case 'C':
      return &f->sqlstate;
    case 'M':
      return &f->message;
    case 'D':
      return &f->detail;
    case 'H':
      return &f->hint;
    case 'P':
      return &f->position;
    case 'p':
      return &f->internal_position;
    case 'q':
      return &f->internal_query;
    case 'W':
      return &f->where;
    case 's':
      return &f->schema_name;
    case 't':
      return &f->table_name;
    case 'c':
      return &f->column_name;
    case 'd':
      return &f->data_type_name;
    case 'n':
      return &f->constraint_name;
    case 'F':
      return &f->file;
    case 'L':
      return &f->line;
    case 'R':
      return &f->routine;
    default:
      return nullptr;
  }
}

absl::StatusCode CodeForSqlState(absl::string_view state) {
  if (state == "XX001" || state == "XX002") return absl::StatusCode::kDataLoss;
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "53") ||
      absl::StartsWith(state, "57P") || absl::StartsWith(state, "40")) {
    return absl::StatusCode::kUnavailable;
  }
  if (absl::StartsWith(state, "28")) return absl::StatusCode::kPermissionDenied;
  if (absl::StartsWith(state, "42") || absl::StartsWith(state, "22")) {
    return absl::StatusCode::kInvalidArgument;
  }
  if (absl::StartsWith(state, "55")) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::StatusOr<ErrorFields> DecodeErrorFields(absl::string_view body) {
  ByteReader r(body);
  ErrorFields out;
  size_t fields = 0;
  while (true) {
    uint8_t code = 0;
    if (!r.ReadU8(&code)) {
      return absl::DataLossError("malformed error/notice response: missing terminator");
    }
    if (code == 0) break;
    absl::string_view value;
    if (!r.ReadCString(&value)) {
      return absl::DataLossError(absl::StrCat(
          "malformed error/notice response: unterminated field '", std::string(1, code), "'"));
    }
    if (++fields > kMaxErrorFields) {
      return absl::DataLossError(
          absl::StrCat("malformed error/notice response: more than ", kMaxErrorFields, " fields"));
    }
    if (std::string* slot = FieldFor(&out, static_cast<char>(code))) {
      *slot = std::string(value);  // a repeated code: the last one wins
    } else {
      out.unknown.emplace_back(static_cast<char>(code), std::string(value));
    }
  }
  if (!r.empty()) {
    return absl::DataLossError(absl::StrCat("malformed error/notice response: ", r.remaining(),
                                            " bytes after the terminator"));
  }
  return out;
}

std::string ErrorFields::ToString() const {
  const std::string& sev = !severity_nonlocalized.empty() ? severity_nonlocalized
                           : !severity.empty()            ? severity
                                                          : std::string("ERROR");
  std::string out = absl::StrCat(sev, ": ", message);
  if (!sqlstate.empty()) absl::StrAppend(&out, " (SQLSTATE ", sqlstate, ")");
  if (!detail.empty()) absl::StrAppend(&out, " DETAIL: ", detail);
  if (!hint.empty()) absl::StrAppend(&out, " HINT: ", hint);
  return out;
}

absl::Status ErrorFields::ToStatus() const {
  absl::Status status(CodeForSqlState(sqlstate), ToString());
  if (!sqlstate.empty()) status.SetPayload(kSqlStatePayloadUrl, absl::Cord(sqlstate));
  return status;
}

std::optional<std::string> SqlStateOf(const absl::Status& status) {
  auto payload = status.GetPayload(kSqlStatePayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace walrep
