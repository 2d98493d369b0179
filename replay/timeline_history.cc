#include "replay/timeline_history.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replay/atomic_file.h"
#include "replay/segment.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

absl::Status BadLine(size_t line_no, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("timeline history line ", line_no, ": ", why));
}

// Parses "<tli><blank+><X/X>[<blank+><reason>]" (the line is already stripped of its
// leading blanks and known to be non-empty and not a comment).
absl::StatusOr<HistoryFileEntry> ParseLine(absl::string_view line, size_t line_no) {
  size_t i = 0;
  while (i < line.size() && absl::ascii_isdigit(static_cast<unsigned char>(line[i]))) ++i;
  uint32_t tli = 0;
  if (i == 0 || i > 10 || !absl::SimpleAtoi(line.substr(0, i), &tli) || tli == 0) {
    return BadLine(line_no, "expected a numeric timeline ID");
  }
  size_t j = i;
  while (j < line.size() && IsBlank(line[j])) ++j;
  if (j == i) return BadLine(line_no, "expected a switch point after the timeline ID");
  size_t k = j;
  while (k < line.size() && !IsBlank(line[k])) ++k;
  absl::StatusOr<Lsn> lsn = Lsn::Parse(line.substr(j, k - j));
  if (!lsn.ok()) return BadLine(line_no, "expected a switch point X/X");
  HistoryFileEntry e;
  e.tli = tli;
  e.switchpoint = *lsn;
  // The reason is free text after the separating tab; PostgreSQL never reads it back.
  e.reason = std::string(absl::StripAsciiWhitespace(line.substr(k)));
  return e;
}

}  // namespace

absl::StatusOr<std::vector<HistoryFileEntry>> ParseHistoryFileContent(
    absl::string_view content) {
  if (content.size() > kMaxHistoryFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeline history of ", content.size(), " bytes exceeds ", kMaxHistoryFileBytes));
  }
  std::vector<HistoryFileEntry> out;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_no;
    while (!line.empty() && IsBlank(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    ASSIGN_OR_RETURN(HistoryFileEntry e, ParseLine(line, line_no));
    if (!out.empty() && e.tli <= out.back().tli) {
      return BadLine(line_no, "timeline IDs must be in increasing sequence");
    }
    if (!out.empty() && e.switchpoint < out.back().switchpoint) {
      return BadLine(line_no, "switch points must not decrease");
    }
    out.push_back(std::move(e));
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
