// BackupEndReader: what a BASE_BACKUP sends after its archives' COPY ends — a result set
// with the backup's end position and timeline (RowDescription, one DataRow,
// CommandComplete; PROTOCOL.md §5), then ReadyForQuery.
//
// Pure: messages in (type and body), state out; no I/O. Thread-compatible.
#ifndef WALREP_BACKUP_BACKUP_END_READER_H_
#define WALREP_BACKUP_BACKUP_END_READER_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "wire/backend_query.h"
#include "wire/replication_results.h"

namespace walrep {

class BackupEndReader {
 public:
  // One message after the COPY. DataLoss for a message that does not belong there, a
  // row before its description, more than one row, or an end row that does not parse.
  absl::Status OnMessage(char type, absl::string_view body);

  // A RowDescription arrived: every later message is this reader's.
  bool started() const { return have_; }
  // ReadyForQuery arrived: the backup command is over.
  bool ready() const { return ready_; }
  // The end position, once CommandComplete closed a result set that held it.
  const std::optional<BackupPosition>& end() const { return end_; }

 private:
  ResultSet rs_;
  bool have_ = false;
  bool ready_ = false;
  std::optional<BackupPosition> end_;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_END_READER_H_
