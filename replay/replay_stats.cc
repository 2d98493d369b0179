#include "replay/replay_stats.h"

#include <cstring>


namespace walrep {
namespace {


// xact.h: the operation is in the high bits of xl_info.
constexpr uint8_t kXactOpMask = 0x70;
constexpr uint8_t kXactCommit = 0x00;
constexpr uint8_t kXactAbort = 0x20;
constexpr uint8_t kXactCommitPrepared = 0x30;
constexpr uint8_t kXactAbortPrepared = 0x40;
// pg_control.h
constexpr uint8_t kXlogRestorePoint = 0x70;
constexpr size_t kRestorePointNameMax = 64;  // MAXFNAMELEN

int64_t Le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(v);
}

}  // namespace


absl::Time FromPostgresTimestamp(int64_t us) {
  return absl::FromUnixSeconds(946684800) + absl::Microseconds(us);
}

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
  // xl_xact_commit / xl_xact_abort (and their prepared forms) begin with the
  // transaction's timestamp, as pg_last_xact_replay_timestamp() reports it.
  if (r.rmid == kRmgrXact && r.main_data.size() >= 8) {
    const uint8_t op = r.info & kXactOpMask;
    if (op == kXactCommit || op == kXactCommitPrepared) {
      s_.commits++;
      s_.last_xact_time = FromPostgresTimestamp(Le64(r.main_data.data()));
    } else if (op == kXactAbort || op == kXactAbortPrepared) {
      s_.aborts++;
      s_.last_xact_time = FromPostgresTimestamp(Le64(r.main_data.data()));
    }
  }
  if (r.rmid == kRmgrXlog && (r.info & ~kXlrInfoMask) == kXlogRestorePoint &&
      r.main_data.size() >= 8 + 1) {
    s_.restore_points++;
    absl::string_view name = r.main_data.substr(8, kRestorePointNameMax);
    s_.last_restore_point = std::string(name.substr(0, name.find('\0')));
  }
  return absl::OkStatus();
}

ReplaySnapshot ReplayStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return s_;
}

}  // namespace walrep
