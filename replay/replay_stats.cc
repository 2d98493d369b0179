#include "replay/replay_stats.h"

#include "replay/xact_record.h"

namespace walrep {

absl::Status ReplayStats::Apply(const WalRecord& r) {
  absl::MutexLock lock(&mu_);
  RmgrCounts& c = s_.rmgr[r.rmid];
  c.records++;
  c.bytes += r.tot_len;
  c.fpi_bytes += r.fpi_len;
  s_.records++;
  s_.bytes += r.tot_len;
  s_.fpi_bytes += r.fpi_len;
  for (const WalBlockRef& b : r.blocks) {
    if (b.has_image) {
      c.fpis++;
      s_.fpis++;
    }
  }
  switch (XactKindOf(r)) {
    case XactKind::kCommit:
      s_.commits++;
      s_.last_xact_time = XactTime(r);
      break;
    case XactKind::kAbort:
      s_.aborts++;
      s_.last_xact_time = XactTime(r);
      break;
    case XactKind::kNone:
      break;
  }
  if (std::optional<std::string> name = RestorePointName(r)) {
    s_.restore_points++;
    s_.last_restore_point = std::move(*name);
  }
  return absl::OkStatus();
}

ReplaySnapshot ReplayStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return s_;
}

}  // namespace walrep
