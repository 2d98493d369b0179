// PgConnection::ExecutePrepared: one statement of the extended query protocol (Bind,
// Execute, Sync), for a statement run so often that parsing "EXECUTE name" each time
// shows in the server's profile (the engine's replay-position look after every flush).
#include "absl/strings/str_cat.h"
#include "wire/backend_query.h"
#include "wire/backend_startup.h"
#include "wire/connection.h"
#include "wire/frontend.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<ResultSet> PgConnection::ExecutePrepared(
    absl::string_view statement, absl::Span<const std::optional<std::string>> params) {
  if (!is_open()) return absl::FailedPreconditionError("connection is closed");
  if (!ready_) {
    return absl::FailedPreconditionError(
        "connection is busy: the previous command has not reached ReadyForQuery");
  }
  ASSIGN_OR_RETURN(std::string m, EncodeBindExecuteSync(statement, params));
  RETURN_IF_ERROR(Send(m));
  ready_ = false;
  ResultSet out;
  bool bound = false, complete = false;
  size_t bytes = 0;
  for (;;) {
    ASSIGN_OR_RETURN(BackendMessage msg, ReadRequired("the prepared statement's result"));
    switch (msg.type) {
      case '2':  // BindComplete
        if (bound || !msg.body.empty()) return Unexpected(msg, "Bind");
        bound = true;
        break;
      case 'D': {
        if (!bound || complete) return Unexpected(msg, "Execute");
        absl::StatusOr<DataRow> row = DecodeDataRow(msg.body);
        if (!row.ok()) return Fail(row.status());
        if (!out.rows.empty() && row->values.size() != out.rows[0].values.size()) {
          return Fail(absl::DataLossError(absl::StrCat(
              "protocol violation: DataRow has ", row->values.size(), " columns, the first ",
              out.rows[0].values.size())));
        }
        bytes += msg.body.size();
        if (bytes > max_result_bytes_) {
          return Fail(absl::DataLossError(
              absl::StrCat("query result exceeds ", max_result_bytes_, " bytes")));
        }
        out.rows.push_back(std::move(*row));
        break;
      }
      case 'C': {
        if (!bound || complete) return Unexpected(msg, "Execute");
        absl::StatusOr<std::string> tag = DecodeCommandComplete(msg.body);
        if (!tag.ok()) return Fail(tag.status());
        complete = true;
        break;
      }
      case 'E':
        // After an error the server skips to the Sync, which it answers with
        // ReadyForQuery.
        return CommandFailed(msg);
      case 'Z': {
        absl::StatusOr<TransactionStatus> ts = DecodeReadyForQuery(msg.body);
        if (!ts.ok()) return Fail(ts.status());
        if (!complete) return Unexpected(msg, "Execute (no CommandComplete)");
        ready_ = true;
        return out;
      }
      default:
        return Unexpected(msg, "the extended query protocol");
    }
  }
}

}  // namespace walrep
