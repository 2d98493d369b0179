// The engine-none replay loop for the aiondb dialect: reads the fsynced entries past
// apply_lsn from the WAL store's files in LSN order, verifies each (checksum, frame,
// decompression), decodes its record's tag and length, and hands it to a
// WalReplayHandler (replay/replay_handler.h) as a WalRecord: lsn/end = the entry's LSN
// (aiondb positions are entry LSNs), prev = its prev_lsn, tot_len = the record's length,
// info = the record's tag byte, rmid = 0, bytes/main_data = the record. apply_lsn becomes
// the entry's LSN once Apply returns OK, so it is always the last verified entry and
// never passes the flushed one. A failed entry stops replay before it and is retried at
// the next tick (aiondb's loop does the same); a corrupt one is reported in failure().
// Unlike aiondb-server, no separate tracker moves apply_lsn: only this loop does.
//
// Thread-safety: Start/Stop/Wake and the accessors from any thread; the loop runs on its
// own thread, joined by Stop.
#ifndef WALREP_AIONDB_REPLAY_H_
#define WALREP_AIONDB_REPLAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aiondb/wal_store.h"
#include "replay/replay_handler.h"

namespace walrep::aiondb {

class Replayer {
 public:
  Replayer(WalStore* store, WalReplayHandler* handler, std::function<void()> on_advance = nullptr,
           absl::Duration tick = absl::Milliseconds(50))
      : store_(store), handler_(handler), on_advance_(std::move(on_advance)), tick_(tick) {}
  ~Replayer() { Stop(); }

  void Start();
  void Stop();
  // New entries were flushed: replay them now rather than at the next tick.
  void Wake();
  // One pass on the caller's thread (tests; the loop uses it too).
  absl::Status ReplayOnce();

  uint64_t apply_lsn() const { return apply_.load(); }
  uint64_t records() const { return records_.load(); }
  uint64_t bytes() const { return bytes_.load(); }
  absl::Status failure() const;

 private:
  void Run();

  WalStore* store_;
  WalReplayHandler* handler_;
  std::function<void()> on_advance_;
  absl::Duration tick_;
  std::atomic<uint64_t> apply_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  // Where the next entry is read (ReplayOnce's thread only).
  uint64_t seq_ = 0;
  uint64_t offset_ = 0;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_REPLAY_H_
