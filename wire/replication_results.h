// Parsers for the result sets that replication commands return (and for the content of a
// timeline history file). Input is a ResultSet gathered by the connection; output is typed
// values. Pure functions; safe from any thread.
//
// Every parser checks the shape first: column count, row count, text format and a type
// OID from the small set PostgreSQL 12-17 actually send for that column. Anything else —
// a wrong shape, a NULL where none is allowed, an unparsable value — is DataLoss naming
// the command and the column, since it means the primary is not the server we think.
#ifndef WALREP_WIRE_REPLICATION_RESULTS_H_
#define WALREP_WIRE_REPLICATION_RESULTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "wire/backend_query.h"
#include "wire/lsn.h"

namespace walrep {

struct IdentifySystemResult {
  uint64_t system_id = 0;
  TimelineId timeline = 0;
  Lsn xlogpos;
  std::optional<std::string> dbname;  // NULL on a physical replication connection
};
absl::StatusOr<IdentifySystemResult> ParseIdentifySystem(const ResultSet& rs);

// The history file of one timeline, as sent. `filename` is checked to be exactly the
// name PostgreSQL gives that timeline's history file (8 upper-case hex digits +
// ".history", matching `expected_timeline` when nonzero), so it is safe to use as a file
// name. The content column is declared text or bytea depending on the version; either
// way the bytes arrive raw and are returned unchanged.
struct TimelineHistoryResult {
  TimelineId timeline = 0;
  std::string filename;
  std::string content;
};
absl::StatusOr<TimelineHistoryResult> ParseTimelineHistory(const ResultSet& rs,
                                                           TimelineId expected_timeline = 0);

// One line of a history file: timeline `parent` ended at `switchpoint` (exclusive).
struct TimelineHistoryEntry {
  TimelineId parent = 0;
  Lsn switchpoint;
  std::string reason;
};
// Caps the content before parsing: a history file grows by one short line per promotion.
inline constexpr size_t kMaxHistoryContentBytes = size_t{1} << 20;
// Parses history-file content the way PostgreSQL's readTimeLineHistory does: leading
// whitespace ignored, blank lines and '#' comments skipped, "tli<ws>X/X" required,
// the rest of the line (after whitespace) is the reason. Parent timelines must strictly
// increase and switchpoints must not go backwards; when `timeline` is nonzero, every
// parent must be below it. A trailing '\r' is dropped. DataLoss names the line number.
absl::StatusOr<std::vector<TimelineHistoryEntry>> ParseTimelineHistoryContent(
    absl::string_view content, TimelineId timeline = 0);

// READ_REPLICATION_SLOT (15+): all NULL when the slot does not exist.
struct ReadReplicationSlotResult {
  std::optional<std::string> slot_type;  // "physical" / "logical"
  std::optional<Lsn> restart_lsn;
  std::optional<TimelineId> restart_tli;
};
absl::StatusOr<ReadReplicationSlotResult> ParseReadReplicationSlot(const ResultSet& rs);

struct CreateReplicationSlotResult {
  std::string slot_name;
  Lsn consistent_point;  // 0/0 for a physical slot
  std::optional<std::string> snapshot_name;
  std::optional<std::string> output_plugin;
};
absl::StatusOr<CreateReplicationSlotResult> ParseCreateReplicationSlot(const ResultSet& rs);

// The one-row result after CopyDone when the streamed timeline ended.
struct EndOfTimelineResult {
  TimelineId next_timeline = 0;
  Lsn switchpoint;  // where next_timeline begins
};
absl::StatusOr<EndOfTimelineResult> ParseEndOfTimeline(const ResultSet& rs);

// BASE_BACKUP's first and last result sets: a WAL position and its timeline.
struct BackupPosition {
  Lsn lsn;
  TimelineId timeline = 0;
};
absl::StatusOr<BackupPosition> ParseBaseBackupStart(const ResultSet& rs);
absl::StatusOr<BackupPosition> ParseBaseBackupEnd(const ResultSet& rs);

// BASE_BACKUP's tablespace list. The main data directory comes as a row with NULL oid
// and NULL location; size is NULL unless PROGRESS was requested.
struct BackupTablespace {
  std::optional<uint32_t> oid;
  std::optional<std::string> location;
  std::optional<int64_t> size_kb;
};
inline constexpr size_t kMaxBackupTablespaces = 4096;
absl::StatusOr<std::vector<BackupTablespace>> ParseBaseBackupTablespaces(const ResultSet& rs);

}  // namespace walrep

#endif  // WALREP_WIRE_REPLICATION_RESULTS_H_
