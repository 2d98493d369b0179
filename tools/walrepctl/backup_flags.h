// walrepctl backup's flags in pg_basebackup's spelling, turned into FetchBaseBackupRequest
// fields, and the progress line pg_basebackup -P prints. Pure functions; tested apart
// from the CLI.
//
//   --compress=[client-|server-]METHOD[:LEVEL|:level=LEVEL]   METHOD: none gzip lz4 zstd
//       (no prefix means client, as pg_basebackup; the old "-Z 5" form means gzip:5)
//   --format=plain|tar (p|t)
//   --tablespace_mapping=OLD=NEW[,OLD=NEW...]   ("\=" for an "=" inside a path)
#ifndef WALREP_TOOLS_WALREPCTL_BACKUP_FLAGS_H_
#define WALREP_TOOLS_WALREPCTL_BACKUP_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

absl::StatusOr<v1::BackupCompression> ParseCompressFlag(absl::string_view spec);
absl::StatusOr<v1::BackupFormat> ParseFormatFlag(absl::string_view spec);
// Adds every OLD=NEW to the request's mapping; InvalidArgument for a malformed entry.
absl::Status ParseTablespaceMappings(const std::vector<std::string>& specs,
                                     v1::FetchBaseBackupRequest* req);

// "  24567/123456 kB (19%), 0/2 tablespaces" — pg_basebackup -P's line (without its end:
// the caller ends it with '\r' on a terminal, '\n' otherwise).
std::string ProgressLine(const v1::BackupProgress& p);

}  // namespace walrep

#endif  // WALREP_TOOLS_WALREPCTL_BACKUP_FLAGS_H_
