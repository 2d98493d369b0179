// ErrorResponse ('E') and NoticeResponse ('N'): decoding their fields and turning an
// error into an absl::Status. Pure functions over the message body; safe from any thread.
#ifndef WALREP_WIRE_BACKEND_ERROR_H_
#define WALREP_WIRE_BACKEND_ERROR_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// A server cannot sensibly send more distinct fields than this; a cap keeps a hostile
// body of many tiny unknown fields from costing one allocation each.
inline constexpr size_t kMaxErrorFields = 128;

// All fields of an ErrorResponse or NoticeResponse, by field code. Absent fields are
// empty. Codes this version does not know are kept in `unknown` in arrival order.
struct ErrorFields {
  std::string severity;               // S (localized)
  std::string severity_nonlocalized;  // V (9.6+)
  std::string sqlstate;               // C
  std::string message;                // M
  std::string detail;                 // D
  std::string hint;                   // H
  std::string position;               // P
  std::string internal_position;      // p
  std::string internal_query;         // q
  std::string where;                  // W
  std::string schema_name;            // s
  std::string table_name;             // t
  std::string column_name;            // c
  std::string data_type_name;         // d
  std::string constraint_name;        // n
  std::string file;                   // F
  std::string line;                   // L
  std::string routine;                // R
  std::vector<std::pair<char, std::string>> unknown;

  // "ERROR: <message> (SQLSTATE xxxxx)", then " DETAIL: <detail>" and " HINT: <hint>"
  // when present. The severity word is the non-localized one when the server sent it.
  std::string ToString() const;
  // An error Status with ToString() as message and the SQLSTATE attached (see
  // SqlStateOf). The code follows the SQLSTATE class: 08 (connection), 53 (resources),
  // 57P (shutdown/cannot connect now) and 40 (rollback) → Unavailable; 28 (auth) →
  // PermissionDenied; 42 (syntax, undefined object) and 22 (data) → InvalidArgument;
  // 55 (object not in prerequisite state, e.g. slot in use) → FailedPrecondition;
  // XX001/XX002 (corruption) → DataLoss; anything else → Unknown.
  absl::Status ToStatus() const;
};

// Decodes an ErrorResponse or NoticeResponse body. DataLoss when a field is unterminated,
// bytes follow the final NUL, or there are more than kMaxErrorFields fields.
absl::StatusOr<ErrorFields> DecodeErrorFields(absl::string_view body);

// The SQLSTATE attached by ErrorFields::ToStatus(), or nullopt.
std::optional<std::string> SqlStateOf(const absl::Status& status);

}  // namespace walrep

#endif  // WALREP_WIRE_BACKEND_ERROR_H_
