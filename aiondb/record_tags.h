// aiondb's WalRecord tags: the first byte of every record names its variant (aiondb-wal's
// WalRecord::tag, 86 variants, 0..=85). walrep does not decode the records' fields (they
// are aiondb's storage and catalog operations); replay checks the tag and counts records
// per kind. Pure; thread-safe.
#ifndef WALREP_AIONDB_RECORD_TAGS_H_
#define WALREP_AIONDB_RECORD_TAGS_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace walrep::aiondb {

inline constexpr uint8_t kMaxRecordTag = 85;

// "BeginTxn", "InsertRow", ...; "" for a tag aiondb does not define.
absl::string_view RecordTagName(uint8_t tag);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_RECORD_TAGS_H_
