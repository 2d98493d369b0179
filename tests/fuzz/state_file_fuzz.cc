// The <data_dir>/replication/ file parsers must never crash, and anything they accept
// must encode back to text that parses to the same value.
#include <cstdint>
#include <cstdlib>

#include "replay/replication_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto state = walrep::ParseStateFile(text);
  if (state.ok()) {
    auto again = walrep::ParseStateFile(walrep::EncodeStateFile(*state));
    if (!again.ok() || !(*again == *state)) std::abort();
  }
  auto sysid = walrep::ParseSystemIdFile(text);
  if (sysid.ok()) {
    auto again = walrep::ParseSystemIdFile(walrep::EncodeSystemIdFile(*sysid));
    if (!again.ok() || *again != *sysid) std::abort();
  }
  auto tli = walrep::ParseTimelineFile(text);
  if (tli.ok()) {
    auto again = walrep::ParseTimelineFile(walrep::EncodeTimelineFile(*tli));
    if (!again.ok() || *again != *tli) std::abort();
  }
  return 0;
}
