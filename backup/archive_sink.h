// Where the archives of one BASE_BACKUP go, as the primary sends them (compressed when it
// compressed them): extracted into a data directory (plain format, extracting_sink.h) or
// kept as files (tar format, tar_file_sink.h). BackupStreamReader drives it; the two framings of
// PostgreSQL 12-14 and 15+ look the same from here.
#ifndef WALREP_BACKUP_ARCHIVE_SINK_H_
#define WALREP_BACKUP_ARCHIVE_SINK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace walrep {

class ArchiveSink {
 public:
  virtual ~ArchiveSink() = default;
  // `archive_name`: "base.tar" or "<oid>.tar", with the server's compression suffix;
  // `tablespace_oid` empty for the main data directory, else with `server_location`, the
  // tablespace's path on the primary.
  virtual absl::Status BeginArchive(absl::string_view archive_name,
                                    absl::string_view tablespace_oid,
                                    absl::string_view server_location) = 0;
  virtual absl::Status ArchiveData(absl::string_view bytes) = 0;
  virtual absl::Status EndArchive() = 0;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_ARCHIVE_SINK_H_
