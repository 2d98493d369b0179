// DecodeFlushSlot must never crash on arbitrary bytes, and anything it accepts must encode
// back to a slot that decodes to the same record.
#include <cstdint>
#include <cstdlib>

#include "replay/flush_journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto rec = walrep::DecodeFlushSlot(bytes);
  if (rec) {
    auto again = walrep::DecodeFlushSlot(walrep::EncodeFlushSlot(*rec));
    if (!again || again->flush_lsn != rec->flush_lsn || again->seq != rec->seq ||
        again->timeline != rec->timeline) {
      std::abort();
    }
  }
  return 0;
}
