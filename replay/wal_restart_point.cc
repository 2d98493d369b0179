#include "replay/wal_restart_point.h"

#include <vector>

#include "replay/logger.h"
#include "replay/segment.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<std::optional<RestartPoint>> FindRestartPoint(const std::string& dir,
                                                             uint64_t segment_size,
                                                             FileOps* ops) {
  RETURN_IF_ERROR(ValidateSegmentSize(segment_size));
  absl::StatusOr<std::vector<std::string>> names = ops->ListDir(dir);
  if (absl::IsNotFound(names.status())) return std::optional<RestartPoint>();
  if (!names.ok()) return names.status();

  bool found = false;
  uint64_t high_segno = 0;
  TimelineId high_tli = 0;
  bool high_partial = false;
  for (const std::string& name : *names) {
    absl::StatusOr<WalFileName> parsed = ParseWalFileName(name, segment_size);
    if (!parsed.ok() || parsed->kind == WalFileName::Kind::kHistory) continue;
    absl::StatusOr<uint64_t> size = ops->FileSize(JoinPath(dir, name));
    if (absl::IsNotFound(size.status())) continue;  // removed while we scanned
    if (!size.ok()) return size.status();
    if (*size != segment_size) {
      ReplayLogger().warn("WAL file {} has {} bytes, expected {}; skipping it",
                          JoinPath(dir, name), *size, segment_size);
      continue;
    }
    bool partial = parsed->kind == WalFileName::Kind::kPartial;
    bool better = !found || parsed->segno > high_segno ||
                  (parsed->segno == high_segno && parsed->tli > high_tli) ||
                  (parsed->segno == high_segno && parsed->tli == high_tli && high_partial &&
                   !partial);
    if (better) {
      found = true;
      high_segno = parsed->segno;
      high_tli = parsed->tli;
      high_partial = partial;
    }
  }
  if (!found) return std::optional<RestartPoint>();
  uint64_t segno = high_partial ? high_segno : high_segno + 1;
  return std::optional<RestartPoint>(RestartPoint{high_tli, SegmentStartLsn(segno, segment_size)});
}

}  // namespace walrep
