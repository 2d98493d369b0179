#include "backup/backup_end_reader.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {

absl::Status BackupEndReader::OnMessage(char type, absl::string_view body) {
  if (type == 'T') {
    ASSIGN_OR_RETURN(rs_.description, DecodeRowDescription(body));
    have_ = true;
  } else if (type == 'D') {
    if (!have_) return absl::DataLossError("BASE_BACKUP: row without a description");
    ASSIGN_OR_RETURN(auto row, DecodeDataRow(body));
    if (rs_.rows.size() > 1) return absl::DataLossError("BASE_BACKUP: too many end rows");
    rs_.rows.push_back(std::move(row));
  } else if (type == 'C') {
    if (have_ && !end_) {
      ASSIGN_OR_RETURN(end_, ParseBaseBackupEnd(rs_));
    }
  } else if (type == 'Z') {
    ready_ = true;
  } else {
    return absl::DataLossError(
        absl::StrCat("BASE_BACKUP: unexpected message '", std::string(1, type), "'"));
  }
  return absl::OkStatus();
}

}  // namespace walrep
