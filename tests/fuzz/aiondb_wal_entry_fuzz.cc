// aiondb WAL entries (and a WalData's chain checks over them): decoding never crashes,
// the caps hold, and an entry that decodes keeps its stated size and re-encodes (same
// LSN, record, prev_lsn, database) to an entry that decodes to the same record.
#include <cstdint>
#include <cstdlib>

#include "aiondb/chain.h"
#include "aiondb/wal_entry.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace a = walrep::aiondb;
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto e = a::DecodeEntry(bytes);
  if (e.ok() && e->has_value()) {
    const a::Entry& entry = **e;
    Check(entry.encoded_len <= size && entry.encoded_len >= a::kMinEntryBytes);
    Check(!entry.record.empty() && entry.record.size() <= a::kMaxRecordBytes);
    auto h = a::DecodeEntryHeader(bytes);
    Check(h.ok() && h->has_value() && (*h)->lsn == entry.lsn &&
          (*h)->encoded_len == entry.encoded_len);
    if (static_cast<uint8_t>(entry.record[0]) != 0xFF) {
      auto again = a::EncodeEntry(entry.lsn, entry.record,
                                  {.prev_lsn = entry.prev_lsn, .database_id = entry.database_id});
      Check(again.ok());
      auto back = a::DecodeEntry(*again);
      Check(back.ok() && back->has_value() && (*back)->record == entry.record &&
            (*back)->lsn == entry.lsn);
    }
  }
  // The same bytes as a WalData body, from an empty store and from one at LSN 1.
  a::WalData w{1, 1, bytes};
  if (!bytes.empty()) {
    auto b = a::CheckWalData(a::ChainState{}, w);
    if (b.ok()) Check(!b->entries.empty() && b->after.last_lsn == 1);
  }
  return 0;
}
