#include "wire/replication_results.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

enum class Kind { kText, kInt, kOid, kLsn, kBytes };

struct Column {
  absl::string_view name;
  Kind kind;
  bool nullable;
};

bool TypeAllowed(Kind kind, uint32_t oid) {
  switch (kind) {
    case Kind::kText:
      return oid == kTextOid || oid == kVarcharOid || oid == kNameOid;
    case Kind::kInt:
      return oid == kInt8Oid || oid == kInt4Oid || oid == kInt2Oid;
    case Kind::kOid:
      return oid == kOidOid || oid == kInt8Oid || oid == kInt4Oid;
    case Kind::kLsn:
      return oid == kTextOid || oid == kPgLsnOid;
    case Kind::kBytes:
      return oid == kTextOid || oid == kByteaOid;
  }
  return false;
}

absl::Status Bad(absl::string_view command, absl::string_view why) {
  return absl::DataLossError(absl::StrCat(command, " result: ", why));
}

absl::Status BadColumn(absl::string_view command, absl::string_view column, absl::string_view why) {
  return absl::DataLossError(absl::StrCat(command, " result column \"", column, "\": ", why));
}

// Checks the description against `columns` and that the row count is in range and every
// row has one value per column.
absl::Status CheckShape(const ResultSet& rs, absl::string_view command,
                        absl::Span<const Column> columns, size_t min_rows, size_t max_rows) {
  const auto& fields = rs.description.fields;
  if (fields.size() != columns.size()) {
    return Bad(command, absl::StrCat(fields.size(), " columns (expected ", columns.size(), ")"));
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (fields[i].format != 0) return BadColumn(command, columns[i].name, "binary format");
    if (!TypeAllowed(columns[i].kind, fields[i].type_oid)) {
      return BadColumn(command, columns[i].name,
                       absl::StrCat("unexpected type oid ", fields[i].type_oid));
    }
  }
  if (rs.rows.size() < min_rows || rs.rows.size() > max_rows) {
    return Bad(command, absl::StrCat(rs.rows.size(), " rows (expected ",
                                     min_rows == max_rows ? "" : "at most ", max_rows, ")"));
  }
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    if (rs.rows[r].values.size() != columns.size()) {
      return Bad(command, absl::StrCat("row ", r, " has ", rs.rows[r].values.size(),
                                       " values (expected ", columns.size(), ")"));
    }
  }
  return absl::OkStatus();
}

// Returns the value or nullptr for NULL; DataLoss if NULL is not allowed.
absl::StatusOr<const std::string*> Value(const ResultSet& rs, size_t row, size_t col,
                                         absl::string_view command, const Column& spec) {
  const auto& v = rs.rows[row].values[col];
  if (!v.has_value()) {
    if (!spec.nullable) return BadColumn(command, spec.name, "unexpected NULL");
    return nullptr;
  }
  return &*v;
}

// Strict unsigned decimal: digits only, no sign or spaces, no overflow past `max`.
bool ParseDecimal(absl::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

absl::StatusOr<TimelineId> ParseTimeline(absl::string_view s, absl::string_view command,
                                         absl::string_view column) {
  uint64_t v = 0;
  if (!ParseDecimal(s, std::numeric_limits<TimelineId>::max(), &v) || v == 0) {
    return BadColumn(command, column, absl::StrCat("invalid timeline \"", absl::CEscape(s), "\""));
  }
  return static_cast<TimelineId>(v);
}

absl::StatusOr<Lsn> ParseLsnValue(absl::string_view s, absl::string_view command,
                                  absl::string_view column) {
  auto lsn = Lsn::Parse(s);
  if (!lsn.ok()) {
    return BadColumn(command, column, absl::StrCat("invalid LSN \"", absl::CEscape(s), "\""));
  }
  return *lsn;
}

// A (start or end) BASE_BACKUP position row: recptr, tli.
absl::StatusOr<BackupPosition> ParseBackupPosition(const ResultSet& rs, absl::string_view command) {
  static constexpr Column kCols[] = {{"recptr", Kind::kLsn, false}, {"tli", Kind::kInt, false}};
  RETURN_IF_ERROR(CheckShape(rs, command, kCols, 1, 1));
  BackupPosition out;
  ASSIGN_OR_RETURN(const std::string* lsn, Value(rs, 0, 0, command, kCols[0]));
  ASSIGN_OR_RETURN(out.lsn, ParseLsnValue(*lsn, command, kCols[0].name));
  ASSIGN_OR_RETURN(const std::string* tli, Value(rs, 0, 1, command, kCols[1]));
  ASSIGN_OR_RETURN(out.timeline, ParseTimeline(*tli, command, kCols[1].name));
  return out;
}

}  // namespace

absl::StatusOr<IdentifySystemResult> ParseIdentifySystem(const ResultSet& rs) {
  constexpr absl::string_view kCmd = "IDENTIFY_SYSTEM";
  static constexpr Column kCols[] = {{"systemid", Kind::kText, false},
                                     {"timeline", Kind::kInt, false},
                                     {"xlogpos", Kind::kLsn, false},
                                     {"dbname", Kind::kText, true}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 1, 1));
  IdentifySystemResult out;
  ASSIGN_OR_RETURN(const std::string* sysid, Value(rs, 0, 0, kCmd, kCols[0]));
  if (!ParseDecimal(*sysid, std::numeric_limits<uint64_t>::max(), &out.system_id)) {
    return BadColumn(kCmd, "systemid",
                     absl::StrCat("invalid system identifier \"", absl::CEscape(*sysid), "\""));
  }
  ASSIGN_OR_RETURN(const std::string* tli, Value(rs, 0, 1, kCmd, kCols[1]));
  ASSIGN_OR_RETURN(out.timeline, ParseTimeline(*tli, kCmd, "timeline"));
  ASSIGN_OR_RETURN(const std::string* pos, Value(rs, 0, 2, kCmd, kCols[2]));
  ASSIGN_OR_RETURN(out.xlogpos, ParseLsnValue(*pos, kCmd, "xlogpos"));
  ASSIGN_OR_RETURN(const std::string* db, Value(rs, 0, 3, kCmd, kCols[3]));
  if (db != nullptr) out.dbname = *db;
  return out;
}

absl::StatusOr<TimelineHistoryResult> ParseTimelineHistory(const ResultSet& rs,
                                                           TimelineId expected_timeline) {
  constexpr absl::string_view kCmd = "TIMELINE_HISTORY";
  static constexpr Column kCols[] = {{"filename", Kind::kText, false},
                                     {"content", Kind::kBytes, false}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 1, 1));
  TimelineHistoryResult out;
  ASSIGN_OR_RETURN(const std::string* name, Value(rs, 0, 0, kCmd, kCols[0]));
  // The name will become a file name: accept exactly "%08X.history" and nothing else.
  constexpr absl::string_view kSuffix = ".history";
  bool ok = name->size() == 8 + kSuffix.size() && absl::string_view(*name).substr(8) == kSuffix;
  uint32_t tli = 0;
  for (size_t i = 0; ok && i < 8; ++i) {
    char c = (*name)[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) ok = false;
    tli = (tli << 4) | static_cast<uint32_t>(d & 0xF);
  }
  if (!ok || tli == 0) {
    return BadColumn(kCmd, "filename",
                     absl::StrCat("not a history file name: \"", absl::CEscape(*name), "\""));
  }
  if (expected_timeline != 0 && tli != expected_timeline) {
    return BadColumn(
        kCmd, "filename",
        absl::StrCat("\"", *name, "\" is not the history of timeline ", expected_timeline));
  }
  ASSIGN_OR_RETURN(const std::string* content, Value(rs, 0, 1, kCmd, kCols[1]));
  if (content->size() > kMaxHistoryContentBytes) {
    return BadColumn(kCmd, "content", absl::StrCat(content->size(), " bytes exceeds the limit"));
  }
  out.timeline = tli;
  out.filename = *name;
  out.content = *content;
  return out;
}

absl::StatusOr<std::vector<TimelineHistoryEntry>> ParseTimelineHistoryContent(
    absl::string_view content, TimelineId timeline) {
  if (content.size() > kMaxHistoryContentBytes) {
    return absl::DataLossError(absl::StrCat("timeline history of ", content.size(),
                                            " bytes exceeds the limit of ", kMaxHistoryContentBytes));
  }
  std::vector<TimelineHistoryEntry> out;
  size_t line_no = 0;
  while (!content.empty()) {
    size_t nl = content.find('\n');
    absl::string_view line = content.substr(0, nl);
    content = nl == absl::string_view::npos ? absl::string_view() : content.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = absl::StripLeadingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat("timeline history line ", line_no, ": ", why));
    };
    size_t i = 0;
    while (i < line.size() && absl::ascii_isdigit(line[i])) ++i;
    uint64_t parent = 0;
    if (!ParseDecimal(line.substr(0, i), std::numeric_limits<TimelineId>::max(), &parent) ||
        parent == 0) {
      return bad("expected a timeline ID");
    }
    absl::string_view rest = line.substr(i);
    if (rest.empty() || !absl::ascii_isspace(rest[0])) {
      return bad("expected a switchpoint location after the timeline ID");
    }
    rest = absl::StripLeadingAsciiWhitespace(rest);
    size_t end = 0;
    while (end < rest.size() && !absl::ascii_isspace(rest[end])) ++end;
    auto lsn = Lsn::Parse(rest.substr(0, end));
    if (!lsn.ok()) return bad("invalid switchpoint location");
    TimelineHistoryEntry e;
    e.parent = static_cast<TimelineId>(parent);
    e.switchpoint = *lsn;
    e.reason = std::string(absl::StripAsciiWhitespace(rest.substr(end)));
    if (!out.empty() && e.parent <= out.back().parent) {
      return bad("timeline IDs must be in increasing sequence");
    }
    if (!out.empty() && e.switchpoint < out.back().switchpoint) {
      return bad("switchpoints must not go backwards");
    }
    if (timeline != 0 && e.parent >= timeline) {
      return bad(absl::StrCat("timeline ", e.parent, " is not older than timeline ", timeline));
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<ReadReplicationSlotResult> ParseReadReplicationSlot(const ResultSet& rs) {
  constexpr absl::string_view kCmd = "READ_REPLICATION_SLOT";
  static constexpr Column kCols[] = {{"slot_type", Kind::kText, true},
                                     {"restart_lsn", Kind::kLsn, true},
                                     {"restart_tli", Kind::kInt, true}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 1, 1));
  ReadReplicationSlotResult out;
  ASSIGN_OR_RETURN(const std::string* type, Value(rs, 0, 0, kCmd, kCols[0]));
  if (type != nullptr) out.slot_type = *type;
  ASSIGN_OR_RETURN(const std::string* lsn, Value(rs, 0, 1, kCmd, kCols[1]));
  if (lsn != nullptr) {
    ASSIGN_OR_RETURN(out.restart_lsn, ParseLsnValue(*lsn, kCmd, kCols[1].name));
  }
  ASSIGN_OR_RETURN(const std::string* tli, Value(rs, 0, 2, kCmd, kCols[2]));
  if (tli != nullptr) {
    ASSIGN_OR_RETURN(out.restart_tli, ParseTimeline(*tli, kCmd, kCols[2].name));
  }
  return out;
}

absl::StatusOr<CreateReplicationSlotResult> ParseCreateReplicationSlot(const ResultSet& rs) {
  constexpr absl::string_view kCmd = "CREATE_REPLICATION_SLOT";
  static constexpr Column kCols[] = {{"slot_name", Kind::kText, false},
                                     {"consistent_point", Kind::kLsn, false},
                                     {"snapshot_name", Kind::kText, true},
                                     {"output_plugin", Kind::kText, true}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 1, 1));
  CreateReplicationSlotResult out;
  ASSIGN_OR_RETURN(const std::string* name, Value(rs, 0, 0, kCmd, kCols[0]));
  out.slot_name = *name;
  ASSIGN_OR_RETURN(const std::string* point, Value(rs, 0, 1, kCmd, kCols[1]));
  ASSIGN_OR_RETURN(out.consistent_point, ParseLsnValue(*point, kCmd, kCols[1].name));
  ASSIGN_OR_RETURN(const std::string* snap, Value(rs, 0, 2, kCmd, kCols[2]));
  if (snap != nullptr) out.snapshot_name = *snap;
  ASSIGN_OR_RETURN(const std::string* plugin, Value(rs, 0, 3, kCmd, kCols[3]));
  if (plugin != nullptr) out.output_plugin = *plugin;
  return out;
}

absl::StatusOr<EndOfTimelineResult> ParseEndOfTimeline(const ResultSet& rs) {
  constexpr absl::string_view kCmd = "START_REPLICATION end-of-timeline";
  static constexpr Column kCols[] = {{"next_tli", Kind::kInt, false},
                                     {"next_tli_startpos", Kind::kLsn, false}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 1, 1));
  EndOfTimelineResult out;
  ASSIGN_OR_RETURN(const std::string* tli, Value(rs, 0, 0, kCmd, kCols[0]));
  ASSIGN_OR_RETURN(out.next_timeline, ParseTimeline(*tli, kCmd, kCols[0].name));
  ASSIGN_OR_RETURN(const std::string* pos, Value(rs, 0, 1, kCmd, kCols[1]));
  ASSIGN_OR_RETURN(out.switchpoint, ParseLsnValue(*pos, kCmd, kCols[1].name));
  return out;
}

absl::StatusOr<BackupPosition> ParseBaseBackupStart(const ResultSet& rs) {
  return ParseBackupPosition(rs, "BASE_BACKUP start");
}

absl::StatusOr<BackupPosition> ParseBaseBackupEnd(const ResultSet& rs) {
  return ParseBackupPosition(rs, "BASE_BACKUP end");
}

absl::StatusOr<std::vector<BackupTablespace>> ParseBaseBackupTablespaces(const ResultSet& rs) {
  constexpr absl::string_view kCmd = "BASE_BACKUP tablespaces";
  static constexpr Column kCols[] = {
      {"spcoid", Kind::kOid, true}, {"spclocation", Kind::kText, true}, {"size", Kind::kInt, true}};
  RETURN_IF_ERROR(CheckShape(rs, kCmd, kCols, 0, kMaxBackupTablespaces));
  std::vector<BackupTablespace> out;
  out.reserve(rs.rows.size());
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    BackupTablespace t;
    ASSIGN_OR_RETURN(const std::string* oid, Value(rs, r, 0, kCmd, kCols[0]));
    if (oid != nullptr) {
      uint64_t v = 0;
      if (!ParseDecimal(*oid, std::numeric_limits<uint32_t>::max(), &v) || v == 0) {
        return BadColumn(kCmd, "spcoid",
                         absl::StrCat("row ", r, ": invalid oid \"", absl::CEscape(*oid), "\""));
      }
      t.oid = static_cast<uint32_t>(v);
    }
    ASSIGN_OR_RETURN(const std::string* location, Value(rs, r, 1, kCmd, kCols[1]));
    if (location != nullptr) t.location = *location;
    if (t.oid.has_value() != t.location.has_value()) {
      return Bad(kCmd, absl::StrCat("row ", r, ": oid and location must both be NULL or both set"));
    }
    ASSIGN_OR_RETURN(const std::string* size, Value(rs, r, 2, kCmd, kCols[2]));
    if (size != nullptr) {
      uint64_t v = 0;
      if (!ParseDecimal(*size, std::numeric_limits<int64_t>::max(), &v)) {
        return BadColumn(kCmd, "size",
                         absl::StrCat("row ", r, ": invalid size \"", absl::CEscape(*size), "\""));
      }
      t.size_kb = static_cast<int64_t>(v);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace walrep
