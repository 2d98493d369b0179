// PgConnection's simple query protocol: Query and StartCopy send one Query message and
// read its results (row sets, command tags, an error drained to ReadyForQuery) until
// ReadyForQuery or, for COPY, the CopyOut/CopyBoth response.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "wire/backend_error.h"
#include "wire/backend_query.h"
#include "wire/backend_startup.h"
#include "wire/connection.h"
#include "wire/frontend.h"
#include "wire/status_macros.h"

namespace walrep {

absl::Status PgConnection::SendQuery(absl::string_view sql) {
  if (!is_open()) return absl::FailedPreconditionError("connection is closed");
  if (!ready_) {
    return absl::FailedPreconditionError(
        "connection is busy: the previous command has not reached ReadyForQuery");
  }
  ASSIGN_OR_RETURN(std::string m, EncodeQuery(sql));
  RETURN_IF_ERROR(Send(m));
  ready_ = false;
  return absl::OkStatus();
}

absl::Status PgConnection::DrainToReady(absl::Status error) {
  for (;;) {
    absl::StatusOr<BackendMessage> msg = ReadRequired("ReadyForQuery after an error");
    if (!msg.ok()) return error;  // closed by ReadRequired; the first error matters more
    if (msg->type == 'Z') {
      ready_ = true;
      return error;
    }
  }
}

absl::Status PgConnection::CommandFailed(const BackendMessage& error) {
  absl::StatusOr<ErrorFields> fields = DecodeErrorFields(error.body);
  if (!fields.ok()) return Fail(fields.status());
  return DrainToReady(fields->ToStatus());
}

absl::StatusOr<std::vector<ResultSet>> PgConnection::Query(absl::string_view sql) {
  RETURN_IF_ERROR(SendQuery(sql));
  return ReadResults(nullptr);
}

absl::StatusOr<std::vector<ResultSet>> PgConnection::StartCopy(absl::string_view sql,
                                                               char* copy_kind) {
  *copy_kind = 0;
  RETURN_IF_ERROR(SendQuery(sql));
  return ReadResults(copy_kind);
}

absl::StatusOr<std::vector<ResultSet>> PgConnection::ReadResults(char* copy_kind) {
  std::vector<ResultSet> out;
  std::optional<ResultSet> current;
  size_t bytes = 0;
  for (;;) {
    ASSIGN_OR_RETURN(BackendMessage msg, ReadRequired("query result"));
    switch (msg.type) {
      case 'T': {
        if (current.has_value()) return Unexpected(msg, "a result set");
        absl::StatusOr<RowDescription> desc = DecodeRowDescription(msg.body);
        if (!desc.ok()) return Fail(desc.status());
        current.emplace();
        current->description = std::move(*desc);
        break;
      }
      case 'D': {
        if (!current.has_value()) return Unexpected(msg, "query (DataRow before RowDescription)");
        absl::StatusOr<DataRow> row = DecodeDataRow(msg.body);
        if (!row.ok()) return Fail(row.status());
        if (row->values.size() != current->description.fields.size()) {
          return Fail(absl::DataLossError(
              absl::StrCat("protocol violation: DataRow has ", row->values.size(),
                           " columns, RowDescription ", current->description.fields.size())));
        }
        bytes += msg.body.size();
        if (bytes > max_result_bytes_) {
          return Fail(absl::DataLossError(
              absl::StrCat("query result exceeds ", max_result_bytes_, " bytes")));
        }
        current->rows.push_back(std::move(*row));
        break;
      }
      case 'C': {
        absl::StatusOr<std::string> tag = DecodeCommandComplete(msg.body);
        if (!tag.ok()) return Fail(tag.status());
        if (current.has_value()) out.push_back(std::move(*current));
        current.reset();
        break;
      }
      case 'I':
        break;
      case 'E':
        return CommandFailed(msg);
      case 'Z': {
        absl::StatusOr<TransactionStatus> ts = DecodeReadyForQuery(msg.body);
        if (!ts.ok()) return Fail(ts.status());
        if (current.has_value()) return Unexpected(msg, "a result set (no CommandComplete)");
        ready_ = true;
        return out;
      }
      case 'G': {
        // We never send COPY FROM STDIN; refuse it so the server ends the command.
        ASSIGN_OR_RETURN(std::string fail, EncodeCopyFail("COPY FROM STDIN is not supported"));
        RETURN_IF_ERROR(Send(fail));
        return DrainToReady(
            absl::FailedPreconditionError("the command started COPY FROM STDIN; refused"));
      }
      case 'H':
      case 'W': {
        absl::StatusOr<CopyResponse> cr = DecodeCopyResponse(msg.body);
        if (!cr.ok()) return Fail(cr.status());
        if (current.has_value()) return Unexpected(msg, "a result set");
        if (copy_kind == nullptr) {
          return Fail(absl::FailedPreconditionError(
              "the command entered COPY; it must be sent with StartCopy()"));
        }
        *copy_kind = msg.type;
        return out;
      }
      default:
        return Unexpected(msg, "query");
    }
  }
}

}  // namespace walrep
