// Recovery of the durable WAL position from the WAL itself, as PostgreSQL's startup
// process finds the end of WAL: fsync the newest segment and the directory, then read
// records from a record start before the newest segment up to the end of valid WAL
// (zeros, a stale page address, a bad CRC, a broken xl_prev chain). That end is the
// durable position — no separate journal — because the receiver only ever reports the
// end of a complete record inside bytes it has fsynced (DATA_DIR.md has the argument).
//
// A stop inside a ".partial" segment is the torn tail of the last write: the end of WAL.
// A stop inside a segment with its final name is corruption — such a segment was
// fsynced whole before it was renamed — and is reported in `corruption`; the scan then
// resynchronises at the next page and continues, so the durable end still covers what
// lies beyond. An XLOG_SWITCH ending the WAL in a ".partial" does not count: the rest of
// its segment, which completes it, is skipped unread, so nothing shows it reached the
// disk; the end is the record before it.
//
// The in-place layout (a local standby's pg_wal, every segment under its final name) has
// no ".partial" to tell the segment being written: every stop is the end of WAL, as for
// PostgreSQL's startup process. There the server also renames old segments to future
// names at restartpoints (recycling), so the newest segment is the highest-numbered one
// whose first page header carries its own address; recycled files, holding an older
// segment's pages, read as end of WAL. Free function; thread-safe.
#ifndef WALREP_REPLAY_WAL_RECOVERY_H_
#define WALREP_REPLAY_WAL_RECOVERY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replay/file_ops.h"
#include "replay/wal_decoder.h"
#include "wire/lsn.h"

namespace walrep {

struct RecoveredWal {
  TimelineId tli = 0;      // timeline of the file holding `end`
  Lsn end;                 // end of the last valid record: the durable position
  Lsn last_record;         // start of that record (invalid when no record was read)
  uint64_t system_id = 0;  // from the long page headers read
  WalStop end_reason = WalStop::kNone;  // how the scan ended (kNone: files ran out)
  std::string end_message;
  Lsn scan_start;          // where reading began
  uint64_t records = 0;    // records read and verified

  struct Corruption {
    Lsn at;            // the record or page that failed verification
    Lsn good_end;      // end of the last valid record before it
    Lsn good_record;   // start of that record
    std::string message;
  };
  std::optional<Corruption> corruption;
};

// nullopt when `dir` holds no segment file. `system_id` (0: any) must match the long
// page headers. Internal on I/O errors.
absl::StatusOr<std::optional<RecoveredWal>> RecoverWal(const std::string& dir,
                                                       uint64_t segment_size,
                                                       uint64_t system_id, FileOps* ops,
                                                       bool in_place = false);

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_RECOVERY_H_
