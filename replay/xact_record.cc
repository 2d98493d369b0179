#include "replay/xact_record.h"

#include "replay/le_bytes.h"

namespace walrep {
namespace {

// xact.h: the operation is in bits 4-6 of xl_info; bit 7 says xinfo follows xact_time.
constexpr uint8_t kXactOpMask = 0x70;
constexpr uint8_t kXactCommit = 0x00;
constexpr uint8_t kXactAbort = 0x20;
constexpr uint8_t kXactCommitPrepared = 0x30;
constexpr uint8_t kXactAbortPrepared = 0x40;
constexpr uint8_t kXactHasInfo = 0x80;
constexpr uint32_t kXactCompletionApplyFeedback = 1u << 29;
// pg_control.h
constexpr size_t kRestorePointNameMax = 64;  // MAXFNAMELEN


}  // namespace

absl::Time FromPostgresTimestamp(int64_t us) {
  return absl::FromUnixSeconds(946684800) + absl::Microseconds(us);
}

XactKind XactKindOf(const WalRecord& r) {
  if (r.rmid != kRmgrXact || r.main_data.size() < 8) return XactKind::kNone;
  switch (r.info & kXactOpMask) {
    case kXactCommit:
    case kXactCommitPrepared:
      return XactKind::kCommit;
    case kXactAbort:
    case kXactAbortPrepared:
      return XactKind::kAbort;
    default:
      return XactKind::kNone;
  }
}

std::optional<absl::Time> XactTime(const WalRecord& r) {
  if (XactKindOf(r) == XactKind::kNone) return std::nullopt;
  return FromPostgresTimestamp(static_cast<int64_t>(Le64(r.main_data.data())));
}

bool AsksForApplyFeedback(const WalRecord& r) {
  if (XactKindOf(r) != XactKind::kCommit || (r.info & kXactHasInfo) == 0 ||
      r.main_data.size() < 12) {
    return false;
  }
  return (Le32(r.main_data.data() + 8) & kXactCompletionApplyFeedback) != 0;
}

std::optional<std::string> RestorePointName(const WalRecord& r) {
  if (r.rmid != kRmgrXlog || (r.info & ~kXlrInfoMask) != kXlogRestorePointInfo ||
      r.main_data.size() < 9) {
    return std::nullopt;
  }
  absl::string_view name = r.main_data.substr(8, kRestorePointNameMax);
  return std::string(name.substr(0, name.find('\0')));
}

}  // namespace walrep
