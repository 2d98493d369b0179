// Decoders for the backend messages of the simple query and COPY sub-protocols:
// RowDescription ('T'), DataRow ('D'), CommandComplete ('C'), EmptyQueryResponse ('I')
// and CopyIn/CopyOut/CopyBothResponse ('G'/'H'/'W'). Each takes the message body
// (Frame::body) and returns owning values. Pure functions; safe from any thread.
// Malformed bodies are DataLoss naming the message.
#ifndef WALREP_WIRE_BACKEND_QUERY_H_
#define WALREP_WIRE_BACKEND_QUERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// PostgreSQL's MaxTupleAttributeNumber: no result row can be wider.
inline constexpr size_t kMaxColumns = 1664;

// Well-known type OIDs used when checking replication command results.
inline constexpr uint32_t kBoolOid = 16;
inline constexpr uint32_t kByteaOid = 17;
inline constexpr uint32_t kNameOid = 19;
inline constexpr uint32_t kInt8Oid = 20;
inline constexpr uint32_t kInt2Oid = 21;
inline constexpr uint32_t kInt4Oid = 23;
inline constexpr uint32_t kTextOid = 25;
inline constexpr uint32_t kOidOid = 26;
inline constexpr uint32_t kVarcharOid = 1043;
inline constexpr uint32_t kPgLsnOid = 3220;

struct FieldDescription {
  std::string name;
  uint32_t table_oid = 0;
  int16_t column_attnum = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;  // typlen; negative means variable width
  int32_t type_modifier = 0;
  int16_t format = 0;  // 0 text, 1 binary
};

struct RowDescription {
  std::vector<FieldDescription> fields;
};
// Field count must be ≤ max_fields (and fit in the body) before anything is reserved;
// formats other than 0/1 are rejected.
absl::StatusOr<RowDescription> DecodeRowDescription(absl::string_view body,
                                                    size_t max_fields = kMaxColumns);

// One row; nullopt is SQL NULL. Values are copied out of the message so a result set can
// outlive the read buffer.
struct DataRow {
  std::vector<std::optional<std::string>> values;
};
// Column count must be ≤ max_columns; each length is -1 (NULL) or within the body.
absl::StatusOr<DataRow> DecodeDataRow(absl::string_view body, size_t max_columns = kMaxColumns);

// A completed simple-query result: description plus rows, as gathered by the connection
// between RowDescription and CommandComplete.
struct ResultSet {
  RowDescription description;
  std::vector<DataRow> rows;
};

// CommandComplete: the command tag, e.g. "SELECT 1" or "IDENTIFY_SYSTEM".
absl::StatusOr<std::string> DecodeCommandComplete(absl::string_view body);
// EmptyQueryResponse has an empty body; anything else is DataLoss.
absl::Status DecodeEmptyQueryResponse(absl::string_view body);

// CopyInResponse / CopyOutResponse / CopyBothResponse share one layout.
struct CopyResponse {
  int8_t overall_format = 0;  // 0 text, 1 binary
  std::vector<int16_t> column_formats;
};
absl::StatusOr<CopyResponse> DecodeCopyResponse(absl::string_view body,
                                                size_t max_columns = kMaxColumns);

}  // namespace walrep

#endif  // WALREP_WIRE_BACKEND_QUERY_H_
