// ParseEndOfWalLine must never crash, and what it accepts must be a line that names a
// positive pid and a valid LSN which appear, as printed, in the line.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/startup_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto end = walrep::ParseEndOfWalLine(text);
  if (end) {
    if (end->pid <= 0 || !end->at.valid()) std::abort();
    if (!absl::StrContains(text, absl::StrCat("[", end->pid, "] LOG:  "))) std::abort();
  }
  return 0;
}
