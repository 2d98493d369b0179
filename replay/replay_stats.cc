#include "replay/replay_stats.h"

#include "replay/xact_record.h"

namespace walrep {

absl::Status ReplayStats::Apply(const WalRecord& r) {
  ReplaySnapshot& p = pending_;
  pending_any_ = true;
  RmgrCounts& c = p.rmgr[r.rmid];
  if (c.records == 0) touched_[touched_count_++] = r.rmid;  // Publish adds only these
  c.records++;
  c.bytes += r.tot_len;
  c.fpi_bytes += r.fpi_len;
  for (const WalBlockRef& b : r.blocks) {
    if (b.has_image) c.fpis++;
  }
  // Only xact records carry commit times and only XLOG records restore points: the
  // rest (nearly every record) is counted and done.
  if (r.rmid == kRmgrXact) {
    switch (XactKindOf(r)) {
      case XactKind::kCommit:
        p.commits++;
        p.last_xact_time = XactTime(r);
        break;
      case XactKind::kAbort:
        p.aborts++;
        p.last_xact_time = XactTime(r);
        break;
      case XactKind::kNone:
        break;
    }
  } else if (r.rmid == kRmgrXlog) {
    if (std::optional<std::string> name = RestorePointName(r)) {
      p.restore_points++;
      p.last_restore_point = std::move(*name);
    }
  }
  return absl::OkStatus();
}

void ReplayStats::Publish() {
  if (!pending_any_) return;
  ReplaySnapshot& p = pending_;
  absl::MutexLock lock(&mu_);
  for (size_t k = 0; k < touched_count_; ++k) {
    const uint8_t i = touched_[k];
    RmgrCounts& from = p.rmgr[i];
    RmgrCounts& to = s_.rmgr[i];
    to.records += from.records;
    to.bytes += from.bytes;
    to.fpi_bytes += from.fpi_bytes;
    to.fpis += from.fpis;
    s_.records += from.records;
    s_.bytes += from.bytes;
    s_.fpi_bytes += from.fpi_bytes;
    s_.fpis += from.fpis;
    from = RmgrCounts{};
  }
  s_.commits += p.commits;
  s_.aborts += p.aborts;
  if (p.last_xact_time) s_.last_xact_time = p.last_xact_time;
  s_.restore_points += p.restore_points;
  if (p.restore_points > 0) s_.last_restore_point = std::move(p.last_restore_point);
  p.commits = p.aborts = p.restore_points = 0;
  p.last_xact_time.reset();
  p.last_restore_point.clear();
  touched_count_ = 0;
  pending_any_ = false;
}

ReplaySnapshot ReplayStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return s_;
}

}  // namespace walrep
