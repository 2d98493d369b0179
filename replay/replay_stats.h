// ReplayStats: the engine `none` replay handler. Every record has already been verified
// by the decoder (page headers, xl_prev chain, CRC-32C, block headers); this accounts
// for it: records and bytes per resource manager, full-page images, the commit/abort
// timestamp of the last transaction replayed (xact records), restore points — what
// pg_waldump --stats and pg_last_xact_replay_timestamp() show. Apply() and Publish() run
// on the replaying thread (one at a time); Snapshot() from any thread, and shows what was
// applied up to the last Publish() — the counts of the records below apply_lsn, taken
// under one lock per publication rather than one per record (a catch-up applies
// millions).
#ifndef WALREP_REPLAY_REPLAY_STATS_H_
#define WALREP_REPLAY_REPLAY_STATS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay/replay_handler.h"
#include "replay/rmgr_names.h"
#include "replay/xact_record.h"

namespace walrep {

struct RmgrCounts {
  uint64_t records = 0;
  uint64_t bytes = 0;      // xl_tot_len, full-page images included
  uint64_t fpi_bytes = 0;  // bytes of full-page images
  uint64_t fpis = 0;       // number of full-page images
};

struct ReplaySnapshot {
  std::array<RmgrCounts, 256> rmgr;
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t fpis = 0;
  uint64_t fpi_bytes = 0;
  uint64_t commits = 0;
  uint64_t aborts = 0;
  std::optional<absl::Time> last_xact_time;  // commit/abort time of the last xact record
  uint64_t restore_points = 0;
  std::string last_restore_point;
};

class ReplayStats : public WalReplayHandler {
 public:
  absl::Status Apply(const WalRecord& record) override;
  // Commit and abort times, restore point names: the bodies of xact records and of XLOG's
  // restore points (not of its full-page images, which index builds write by the
  // thousand).
  bool NeedsBody(uint8_t rmid, uint8_t info) const override {
    return rmid == kRmgrXact || (rmid == kRmgrXlog && (info & 0xF0) == kXlogRestorePointInfo);
  }
  void Publish() override;
  ReplaySnapshot Snapshot() const;

 private:
  // Applied since the last Publish: the replaying thread's alone (the replay loop never
  // runs two replaying threads at once), so no lock.
  ReplaySnapshot pending_;
  bool pending_any_ = false;
  // The resource managers pending_ has counts for, each once: Publish walks these few
  // rather than all 256 (it runs every few hundred records in a catch-up).
  std::array<uint8_t, 256> touched_{};
  size_t touched_count_ = 0;
  mutable absl::Mutex mu_;
  ReplaySnapshot s_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_REPLAY_REPLAY_STATS_H_
