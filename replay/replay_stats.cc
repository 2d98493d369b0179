#include "replay/replay_stats.h"

#include "replay/xact_record.h"

namespace walrep {

absl::Status ReplayStats::Apply(const WalRecord& r) {
  ReplaySnapshot& p = pending_;
  pending_any_ = true;
  RmgrCounts& c = p.rmgr[r.rmid];
  c.records++;
  c.bytes += r.tot_len;
  c.fpi_bytes += r.fpi_len;
  for (const WalBlockRef& b : r.blocks) {
    if (b.has_image) c.fpis++;
  }
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
  if (std::optional<std::string> name = RestorePointName(r)) {
    p.restore_points++;
    p.last_restore_point = std::move(*name);
  }
  return absl::OkStatus();
}

void ReplayStats::Publish() {
  if (!pending_any_) return;
  ReplaySnapshot& p = pending_;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < p.rmgr.size(); ++i) {
    RmgrCounts& from = p.rmgr[i];
    if (from.records == 0) continue;
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
  pending_any_ = false;
}

ReplaySnapshot ReplayStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return s_;
}

}  // namespace walrep
