#include "replay/timeline_history.h"

#include "absl/strings/str_cat.h"
#include "replay/atomic_file.h"
#include "replay/segment.h"
#include "wire/replication_results.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<std::vector<HistoryFileEntry>> ParseHistoryFileContent(
    absl::string_view content) {
  if (content.size() > kMaxHistoryFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeline history of ", content.size(), " bytes exceeds ", kMaxHistoryFileBytes));
  }
  // One grammar for history content, whether it came from TIMELINE_HISTORY or a file.
  ASSIGN_OR_RETURN(std::vector<TimelineHistoryEntry> entries, ParseTimelineHistoryContent(content));
  std::vector<HistoryFileEntry> out;
  out.reserve(entries.size());
  for (auto& entry : entries) {
    out.push_back(HistoryFileEntry{entry.parent, entry.switchpoint, std::move(entry.reason)});
  }
  return out;
}

absl::StatusOr<std::string> BuildPromotionHistoryContent(absl::string_view parent_content,
                                                         TimelineId parent_tli,
                                                         Lsn switchpoint,
                                                         absl::string_view reason) {
  if (parent_tli == 0 || parent_tli == UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot promote from timeline ", parent_tli));
  }
  if (reason.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError("promotion reason must be a single line");
  }
  absl::StatusOr<std::vector<HistoryFileEntry>> parent = ParseHistoryFileContent(parent_content);
  if (!parent.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent timeline history: ", parent.status().message()));
  }
  if (!parent->empty() && parent->back().tli >= parent_tli) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parent history already names timeline ", parent->back().tli,
        ", not below parent timeline ", parent_tli));
  }
  if (!parent->empty() && switchpoint < parent->back().switchpoint) {
    return absl::InvalidArgumentError(absl::StrCat(
        "switch point ", switchpoint.ToString(), " precedes the parent's last switch point ",
        parent->back().switchpoint.ToString()));
  }
  std::string out(parent_content);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  absl::StrAppend(&out, parent_tli, "\t", switchpoint.ToString(), "\t", reason, "\n");
  return out;
}

absl::Status WriteHistoryFile(const std::string& dir, TimelineId tli,
                              absl::string_view content, FileOps* ops) {
  if (tli < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeline ", tli, " has no history file"));
  }
  const std::string path = JoinPath(dir, HistoryFileName(tli));
  absl::StatusOr<std::vector<HistoryFileEntry>> entries = ParseHistoryFileContent(content);
  if (!entries.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", entries.status().message()));
  }
  if (!entries->empty() && entries->back().tli >= tli) {
    return absl::DataLossError(absl::StrCat(path, ": history names timeline ",
                                            entries->back().tli, ", not below ", tli));
  }
  return WriteFileAtomically(path, content, ops);
}

absl::StatusOr<std::string> ReadHistoryFile(const std::string& dir, TimelineId tli,
                                            FileOps* ops) {
  return ReadSmallFile(JoinPath(dir, HistoryFileName(tli)), kMaxHistoryFileBytes, ops);
}

}  // namespace walrep
