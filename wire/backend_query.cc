#include "wire/backend_query.h"

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

bool ValidFormat(int16_t f) { return f == 0 || f == 1; }

// Smallest encoding of one field description: empty name (its NUL) + 4+2+4+2+4+2.
constexpr size_t kMinFieldBytes = 19;

}  // namespace

absl::StatusOr<RowDescription> DecodeRowDescription(absl::string_view body, size_t max_fields) {
  constexpr absl::string_view kMsg = "RowDescription";
  ByteReader r(body);
  int16_t count = 0;
  if (!r.ReadI16(&count)) return Malformed(kMsg, "missing field count");
  if (count < 0 || static_cast<size_t>(count) > max_fields) {
    return Malformed(kMsg, absl::StrCat("field count ", count, " (limit ", max_fields, ")"));
  }
  if (static_cast<size_t>(count) * kMinFieldBytes > r.remaining()) {
    return Malformed(
        kMsg, absl::StrCat("field count ", count, " does not fit in ", r.remaining(), " bytes"));
  }
  RowDescription out;
  out.fields.reserve(count);
  for (int16_t i = 0; i < count; ++i) {
    FieldDescription f;
    absl::string_view name;
    if (!r.ReadCString(&name)) return Malformed(kMsg, absl::StrCat("field ", i, ": bad name"));
    f.name = std::string(name);
    if (!r.ReadU32(&f.table_oid) || !r.ReadI16(&f.column_attnum) || !r.ReadU32(&f.type_oid) ||
        !r.ReadI16(&f.type_size) || !r.ReadI32(&f.type_modifier) || !r.ReadI16(&f.format)) {
      return Malformed(kMsg, absl::StrCat("field ", i, " (\"", f.name, "\") truncated"));
    }
    if (!ValidFormat(f.format)) {
      return Malformed(kMsg,
                       absl::StrCat("field ", i, " (\"", f.name, "\") has format code ", f.format));
    }
    out.fields.push_back(std::move(f));
  }
  if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
  return out;
}

absl::StatusOr<DataRow> DecodeDataRow(absl::string_view body, size_t max_columns) {
  constexpr absl::string_view kMsg = "DataRow";
  ByteReader r(body);
  int16_t count = 0;
  if (!r.ReadI16(&count)) return Malformed(kMsg, "missing column count");
  if (count < 0 || static_cast<size_t>(count) > max_columns) {
    return Malformed(kMsg, absl::StrCat("column count ", count, " (limit ", max_columns, ")"));
  }
  if (static_cast<size_t>(count) * 4 > r.remaining()) {
    return Malformed(
        kMsg, absl::StrCat("column count ", count, " does not fit in ", r.remaining(), " bytes"));
  }
  DataRow out;
  out.values.reserve(count);
  for (int16_t i = 0; i < count; ++i) {
    int32_t len = 0;
    if (!r.ReadI32(&len)) return Malformed(kMsg, absl::StrCat("column ", i, ": no length"));
    if (len == -1) {
      out.values.emplace_back(std::nullopt);
      continue;
    }
    absl::string_view value;
    if (len < 0 || !r.ReadBytes(static_cast<size_t>(len), &value)) {
      return Malformed(kMsg, absl::StrCat("column ", i, ": length ", len, " with ", r.remaining(),
                                          " bytes left"));
    }
    out.values.emplace_back(std::string(value));
  }
  if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> DecodeCommandComplete(absl::string_view body) {
  constexpr absl::string_view kMsg = "CommandComplete";
  ByteReader r(body);
  absl::string_view tag;
  if (!r.ReadCString(&tag)) return Malformed(kMsg, "unterminated command tag");
  if (auto s = ExpectEnd(r, kMsg); !s.ok()) return s;
  return std::string(tag);
}

absl::Status DecodeEmptyQueryResponse(absl::string_view body) {
  if (!body.empty()) {
    return Malformed("EmptyQueryResponse", absl::StrCat(body.size(), " unexpected bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CopyResponse> DecodeCopyResponse(absl::string_view body, size_t max_columns) {
  constexpr absl::string_view kMsg = "Copy response";
  ByteReader r(body);
  CopyResponse out;
  uint8_t overall = 0;
  int16_t count = 0;
  if (!r.ReadU8(&overall) || !r.ReadI16(&count)) return Malformed(kMsg, "truncated header");
  if (overall > 1) return Malformed(kMsg, absl::StrCat("overall format ", overall));
  out.overall_format = static_cast<int8_t>(overall);
  if (count < 0 || static_cast<size_t>(count) > max_columns ||
      static_cast<size_t>(count) * 2 != r.remaining()) {
    return Malformed(
        kMsg, absl::StrCat("column count ", count, " with ", r.remaining(), " bytes of formats"));
  }
  out.column_formats.reserve(count);
  for (int16_t i = 0; i < count; ++i) {
    int16_t f = 0;
    r.ReadI16(&f);
    // A text-format copy must have all-text columns (protocol docs).
    if (!ValidFormat(f) || (overall == 0 && f != 0)) {
      return Malformed(kMsg, absl::StrCat("column ", i, " format ", f));
    }
    out.column_formats.push_back(f);
  }
  return out;
}

}  // namespace walrep
