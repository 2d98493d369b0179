// Timeline history *files* ("TTTTTTTT.history" in the WAL directory): parsing their
// content, building the content for a new timeline at promotion, and writing them
// durably. The bytes of a history file fetched with TIMELINE_HISTORY are stored exactly
// as received. (wire/ decodes the TIMELINE_HISTORY result set itself; this module only
// deals with the file content.) Pure functions except Write/ReadHistoryFile; all are
// thread-safe.
#ifndef WALREP_REPLAY_TIMELINE_HISTORY_H_
#define WALREP_REPLAY_TIMELINE_HISTORY_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/file_ops.h"
#include "wire/lsn.h"

namespace walrep {

// Far above any real history (one ~50-byte line per promotion); bounds parsing work.
inline constexpr size_t kMaxHistoryFileBytes = size_t{1} << 20;

// One line of a history file: timeline `tli` ended at `switchpoint`, where its child
// timeline began.
struct HistoryFileEntry {
  TimelineId tli = 0;
  Lsn switchpoint;
  std::string reason;
  bool operator==(const HistoryFileEntry&) const = default;
};

// Parses history file content (grammar in WAL_FILES.md). Blank lines and lines whose
// first non-blank character is '#' are skipped. Timeline IDs must strictly increase and
// switch points must not decrease. Bad content is DataLoss; more than
// kMaxHistoryFileBytes is InvalidArgument.
absl::StatusOr<std::vector<HistoryFileEntry>> ParseHistoryFileContent(
    absl::string_view content);

// Content of the history file of the timeline created by promoting `parent_tli` at
// `switchpoint`: the parent's history content followed by
// "<parent_tli>\t<X/X>\t<reason>\n", as PostgreSQL writes it. `parent_content` is empty
// for timeline 1 (which has no history file). InvalidArgument when the parent content
// does not parse, already names a timeline >= parent_tli or a later switch point, or the
// reason contains a line break.
absl::StatusOr<std::string> BuildPromotionHistoryContent(absl::string_view parent_content,
                                                         TimelineId parent_tli,
                                                         Lsn switchpoint,
                                                         absl::string_view reason);

// Writes "<dir>/TTTTTTTT.history" for `tli` atomically with `content` unchanged. The
// content must parse and only name timelines below `tli` (else DataLoss); tli must be
// >= 2 (InvalidArgument).
absl::Status WriteHistoryFile(const std::string& dir, TimelineId tli,
                              absl::string_view content, FileOps* ops = DefaultFileOps());

// Reads "<dir>/TTTTTTTT.history" (NotFound when absent) without interpreting it.
absl::StatusOr<std::string> ReadHistoryFile(const std::string& dir, TimelineId tli,
                                            FileOps* ops = DefaultFileOps());

}  // namespace walrep

#endif  // WALREP_REPLAY_TIMELINE_HISTORY_H_
