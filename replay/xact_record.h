// What the replay loop reads from Transaction (RM_XACT_ID) and XLOG records: whether a
// record commits or aborts, its transaction time, whether its session waits for apply
// feedback (remote_apply), and restore points. Layouts in WAL_FORMAT.md. Pure functions
// over a decoded record (retain mode); thread-safe.
#ifndef WALREP_REPLAY_XACT_RECORD_H_
#define WALREP_REPLAY_XACT_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "replay/wal_decoder.h"

namespace walrep {

enum class XactKind { kNone, kCommit, kAbort };

// COMMIT / COMMIT_PREPARED, ABORT / ABORT_PREPARED; kNone for anything else.
XactKind XactKindOf(const WalRecord& record);

// The commit/abort time (xact_time) of such a record, as pg_last_xact_replay_timestamp()
// reports it.
std::optional<absl::Time> XactTime(const WalRecord& record);

// A commit whose session waits for it to be applied (XACT_COMPLETION_APPLY_FEEDBACK in
// xinfo): PostgreSQL's startup process makes its walreceiver reply at once for it.
bool AsksForApplyFeedback(const WalRecord& record);

// XLOG_RESTORE_POINT: an XLOG record's type (xl_info & 0xF0) for a restore point.
inline constexpr uint8_t kXlogRestorePointInfo = 0x70;

// The name of an XLOG RESTORE_POINT record (pg_create_restore_point).
std::optional<std::string> RestorePointName(const WalRecord& record);

// PostgreSQL timestamps are microseconds since 2000-01-01 00:00:00 UTC.
absl::Time FromPostgresTimestamp(int64_t us);

}  // namespace walrep

#endif  // WALREP_REPLAY_XACT_RECORD_H_
