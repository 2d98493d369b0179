// WalReplayHandler: what "apply" means for an engine. The replay loop (wal_replayer.h)
// reads the durable WAL past apply_lsn record by record, verifies each one, and hands
// it here in LSN order; apply_lsn becomes the record's end once Apply returns OK.
// Called on the replay thread only.
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
  // `rmid`. For those it does not, a record crossing pages reaches Apply with its headers
  // decoded and its body left out (WalDecoder::Options::keep_body): no copy of its
  // full-page images. The answer must not change while replay runs.
  virtual bool NeedsBody(uint8_t rmid) const {
    (void)rmid;
    return true;
  }
};

}  // namespace walrep

#endif  // WALREP_REPLAY_REPLAY_HANDLER_H_
