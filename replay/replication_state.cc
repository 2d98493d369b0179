#include "replay/replication_state.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "replay/atomic_file.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr char kStateVersion[] = "1";

bool AllDigits(absl::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Strips the single trailing newline every walrep file ends with.
absl::StatusOr<absl::string_view> OneLine(absl::string_view content, absl::string_view what) {
  if (content.size() > kMaxStateFileBytes) {
    return absl::DataLossError(absl::StrCat(what, " file is too large"));
  }
  if (!absl::ConsumeSuffix(&content, "\n")) {
    return absl::DataLossError(absl::StrCat(what, " file does not end with a newline"));
  }
  return content;
}

absl::StatusOr<uint64_t> ParseDecimal(absl::string_view text, absl::string_view what) {
  uint64_t v = 0;
  if (!AllDigits(text) || !absl::SimpleAtoi(text, &v)) {
    return absl::DataLossError(absl::StrCat(what, " \"", absl::CHexEscape(text),
                                            "\" is not a decimal number"));
  }
  return v;
}

absl::StatusOr<TimelineId> ParseTli(absl::string_view text) {
  ASSIGN_OR_RETURN(uint64_t v, ParseDecimal(text, "timeline"));
  if (v == 0 || v > UINT32_MAX) {
    return absl::DataLossError(absl::StrCat("timeline ", v, " is out of range"));
  }
  return static_cast<TimelineId>(v);
}

template <typename T>
absl::StatusOr<std::optional<T>> Load(const std::string& path, FileOps* ops,
                                      absl::StatusOr<T> (*parse)(absl::string_view)) {
  absl::StatusOr<std::string> content = ReadSmallFile(path, kMaxStateFileBytes, ops);
  if (absl::IsNotFound(content.status())) return std::optional<T>();
  if (!content.ok()) return content.status();
  absl::StatusOr<T> v = parse(*content);
  if (!v.ok()) return absl::DataLossError(absl::StrCat(path, ": ", v.status().message()));
  return std::optional<T>(std::move(*v));
}

}  // namespace

absl::string_view ReplicationRoleName(ReplicationRole role) {
  return role == ReplicationRole::kPrimary ? "primary" : "replica";
}

std::string EncodeStateFile(const ReplicationState& state) {
  return absl::StrCat("version=", kStateVersion, "\nrole=", ReplicationRoleName(state.role),
                      "\nflush_lsn=", state.flush_lsn.ToString(),
                      "\ntimeline=", state.timeline, "\n");
}

absl::StatusOr<ReplicationState> ParseStateFile(absl::string_view content) {
  ASSIGN_OR_RETURN(content, OneLine(content, "state"));
  ReplicationState out;
  bool have_version = false, have_role = false, have_lsn = false, have_tli = false;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::DataLossError(
          absl::StrCat("state line \"", absl::CHexEscape(line), "\" is not key=value"));
    }
    absl::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    auto once = [&](bool* seen) -> absl::Status {
      if (*seen) return absl::DataLossError(absl::StrCat("state key ", key, " repeated"));
      *seen = true;
      return absl::OkStatus();
    };
    if (key == "version") {
      RETURN_IF_ERROR(once(&have_version));
      if (value != kStateVersion) {
        return absl::DataLossError(absl::StrCat("unsupported state version \"",
                                                absl::CHexEscape(value), "\""));
      }
    } else if (key == "role") {
      RETURN_IF_ERROR(once(&have_role));
      if (value == "replica") {
        out.role = ReplicationRole::kReplica;
      } else if (value == "primary") {
        out.role = ReplicationRole::kPrimary;
      } else {
        return absl::DataLossError(
            absl::StrCat("unknown role \"", absl::CHexEscape(value), "\""));
      }
    } else if (key == "flush_lsn") {
      RETURN_IF_ERROR(once(&have_lsn));
      absl::StatusOr<Lsn> lsn = Lsn::Parse(value);
      if (!lsn.ok()) return absl::DataLossError(lsn.status().message());
      out.flush_lsn = *lsn;
    } else if (key == "timeline") {
      RETURN_IF_ERROR(once(&have_tli));
      ASSIGN_OR_RETURN(out.timeline, ParseTli(value));
    }
    // Other keys: written by a newer walrep; ignoring them keeps a downgrade possible.
  }
  if (!have_version || !have_role || !have_lsn || !have_tli) {
    return absl::DataLossError("state file lacks one of version, role, flush_lsn, timeline");
  }
  return out;
}

std::string EncodeSystemIdFile(uint64_t system_id) { return absl::StrCat(system_id, "\n"); }

absl::StatusOr<uint64_t> ParseSystemIdFile(absl::string_view content) {
  ASSIGN_OR_RETURN(content, OneLine(content, "system_id"));
  ASSIGN_OR_RETURN(uint64_t v, ParseDecimal(content, "system identifier"));
  if (v == 0) return absl::DataLossError("system identifier is 0");
  return v;
}

std::string EncodeTimelineFile(TimelineId tli) { return absl::StrCat(tli, "\n"); }

absl::StatusOr<TimelineId> ParseTimelineFile(absl::string_view content) {
  ASSIGN_OR_RETURN(content, OneLine(content, "timeline"));
  return ParseTli(content);
}

ReplicationStateStore::ReplicationStateStore(std::string data_dir, FileOps* ops)
    : dir_(JoinPath(data_dir, "replication")), ops_(ops) {}

absl::Status ReplicationStateStore::Init() { return CreateDirDurably(dir_, ops_); }

absl::StatusOr<std::optional<uint64_t>> ReplicationStateStore::LoadSystemId() const {
  return Load<uint64_t>(JoinPath(dir_, "system_id"), ops_, &ParseSystemIdFile);
}

absl::StatusOr<std::optional<TimelineId>> ReplicationStateStore::LoadTimeline() const {
  return Load<TimelineId>(JoinPath(dir_, "timeline"), ops_, &ParseTimelineFile);
}

absl::StatusOr<std::optional<ReplicationState>> ReplicationStateStore::LoadState() const {
  return Load<ReplicationState>(JoinPath(dir_, "state"), ops_, &ParseStateFile);
}

absl::Status ReplicationStateStore::StoreSystemId(uint64_t system_id) {
  if (system_id == 0) return absl::InvalidArgumentError("system identifier 0 is invalid");
  return WriteFileAtomically(JoinPath(dir_, "system_id"), EncodeSystemIdFile(system_id), ops_);
}

absl::Status ReplicationStateStore::StoreTimeline(TimelineId tli) {
  if (tli == 0) return absl::InvalidArgumentError("timeline 0 is invalid");
  return WriteFileAtomically(JoinPath(dir_, "timeline"), EncodeTimelineFile(tli), ops_);
}

absl::Status ReplicationStateStore::StoreState(const ReplicationState& state) {
  if (state.timeline == 0) return absl::InvalidArgumentError("timeline 0 is invalid");
  return WriteFileAtomically(JoinPath(dir_, "state"), EncodeStateFile(state), ops_);
}

}  // namespace walrep
