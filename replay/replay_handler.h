// WalReplayHandler: what "apply" means for an engine. The replay loop (wal_replayer.h)
// reads the durable WAL past apply_lsn record by record, verifies each one, and hands
// it here in LSN order; apply_lsn becomes the record's end once Apply returns OK.
// Called by one replaying thread at a time (the replay thread, or the receiver replaying
// a commit inline — the replay loop serializes them).
#ifndef WALREP_REPLAY_REPLAY_HANDLER_H_
#define WALREP_REPLAY_REPLAY_HANDLER_H_

#include "absl/status/status.h"
#include "replay/wal_decoder.h"

namespace walrep {

class WalReplayHandler {
 public:
  virtual ~WalReplayHandler() = default;
  // A non-OK status stops replay before this record (it is retried after a restart).
  virtual absl::Status Apply(const WalRecord& record) = 0;
  // Whether Apply reads the body (`bytes`, `main_data`) of records of resource manager
  // `rmid` whose xl_info has record type `info & 0xF0`. For those it does not, a record
  // crossing pages reaches Apply with its headers decoded and its body left out
  // (WalDecoder::Options::keep_body): no copy of its full-page images. The answer must
  // not change while replay runs.
  virtual bool NeedsBody(uint8_t rmid, uint8_t info) const {
    (void)rmid;
    (void)info;
    return true;
  }
  // What was applied since the last call is to be visible to other threads: the replay
  // loop calls it where it publishes apply_lsn (every few dozen records, and before
  // anything that can block or stop), so accounting kept per record can stay on the
  // replaying thread and be shown here under one lock, not one lock per record.
  virtual void Publish() {}
};

}  // namespace walrep

#endif  // WALREP_REPLAY_REPLAY_HANDLER_H_
