// Lsn::Parse must never crash, and anything it accepts must print back to an equal value.
#include <cstdint>
#include <cstdlib>

#include "wire/lsn.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto lsn = walrep::Lsn::Parse(text);
  if (lsn.ok()) {
    auto again = walrep::Lsn::Parse(lsn->ToString());
    if (!again.ok() || *again != *lsn) std::abort();
  }
  return 0;
}
