// Adoption of a base backup's WAL by the archive: the backup's WAL stream writes into
// <copy>/pg_wal in the in-place layout (final names from the start, what a startable
// data directory needs), while engine none's WAL store is an archive (pg_receivewal's
// layout, WAL_FILES.md). Copying that WAL into the archive lets the store recover its
// durable position from it, as from any WAL it wrote itself, so streaming continues
// where the backup's WAL ends instead of fetching it again from the primary (which,
// without a slot, may have removed it by then).
//
// What is copied: the end of valid WAL in `from` is found as recovery finds it
// (wal_recovery.h, in-place rules: an XLOG_SWITCH ends its segment); then the unbroken
// run of segments that ends with the one holding that end — the ones below it under
// their final names, the one holding the end as ".partial" (it is still being filled;
// none when the end is a segment boundary) — and every timeline history file. `from`
// must have been written in order and fsynced up to its end by one stream, as a walrep
// backup's is (backup_wal_stream.h): it streams past the switch that ends a backup to
// the primary's position after it, so a segment completed by a switch did receive its
// padding (PostgreSQL 15 sends it as zeros: what the file held before).
// Each file is written as "<name>.tmp", fsynced and renamed; the directory is fsynced
// before returning, so a crash leaves whole files only. A name already in `to` is left
// alone: an earlier, interrupted import made it from the same bytes.
// Free function; thread-safe for distinct `to` directories.
#ifndef WALREP_REPLAY_WAL_IMPORT_H_
#define WALREP_REPLAY_WAL_IMPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "replay/file_ops.h"

namespace walrep {

struct ImportedWal {
  int segments = 0;  // segment files copied (not counting those already present)
  int history_files = 0;
};

// Copies the WAL of the in-place directory `from` into the archive directory `to`
// (which must exist). Nothing to copy (no valid WAL in `from`, or no such directory) is
// OK with zero counts. `system_id` (0: any) must match the WAL's long page headers.
// I/O errors carry their errno's code (errno_status.h).
absl::StatusOr<ImportedWal> ImportWalIntoArchive(const std::string& from, const std::string& to,
                                                 uint64_t segment_size, uint64_t system_id,
                                                 FileOps* ops);

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_IMPORT_H_
