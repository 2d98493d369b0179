// The checks aiondb's WalReceiver makes on each WalData before anything is stored: every
// entry well-formed with a valid checksum, the first at the position the store expects
// next, each later one +1 (Logical) or + the previous entry's encoded size (ByteOffset),
// every non-zero prev_lsn naming the entry before, and the message's start/end naming its
// first and last entries. The whole message is checked first, so a bad entry leaves
// nothing of its message written. Pure; thread-safe.
#ifndef WALREP_AIONDB_CHAIN_H_
#define WALREP_AIONDB_CHAIN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "aiondb/envelope.h"
#include "aiondb/wal_entry.h"
#include "aiondb/wal_file.h"

namespace walrep::aiondb {

// Where a chain of entries stands: the last entry's LSN and encoded size (0 when empty).
struct ChainState {
  uint64_t last_lsn = 0;
  uint64_t last_len = 0;
  LsnMode mode = LsnMode::kUnknown;
  // The LSN to ask START_REPLICATION for: one past the last entry. aiondb's primary sends
  // entries with lsn >= start, so this is the next entry in either mode (there is no
  // entry between last and last + size) — never the last entry again, which aiondb's own
  // client re-requests (and then rejects) on every resume.
  uint64_t resume_lsn() const { return last_lsn + 1; }
};

// Whether `next` may follow an entry at `state`; sets the mode once two entries show it.
// DataLoss naming the expected and received LSNs otherwise.
absl::Status CheckNext(ChainState* state, const EntryHeader& next);

struct CheckedBatch {
  std::vector<EntryHeader> entries;
  ChainState after;
};
absl::StatusOr<CheckedBatch> CheckWalData(const ChainState& before, const WalData& data);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_CHAIN_H_
