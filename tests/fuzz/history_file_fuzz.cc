// ParseHistoryFileContent must never crash; whatever it accepts must be extendable by a
// promotion and the result must parse to the same entries plus the new one.
#include <cstdint>
#include <cstdlib>

#include "replay/timeline_history.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto entries = walrep::ParseHistoryFileContent(text);
  if (!entries.ok()) return 0;
  walrep::TimelineId parent = entries->empty() ? 1 : entries->back().tli + 1;
  if (parent == 0 || parent == UINT32_MAX) return 0;
  walrep::Lsn sp = entries->empty() ? walrep::Lsn(1) : entries->back().switchpoint;
  auto content = walrep::BuildPromotionHistoryContent(text, parent, sp, "fuzz");
  if (!content.ok()) {
    // Only oversized input may be refused once the parent content parsed.
    if (text.size() + 64 < walrep::kMaxHistoryFileBytes) std::abort();
    return 0;
  }
  auto again = walrep::ParseHistoryFileContent(*content);
  if (content->size() > walrep::kMaxHistoryFileBytes) return 0;
  if (!again.ok() || again->size() != entries->size() + 1) std::abort();
  for (size_t i = 0; i < entries->size(); ++i) {
    if ((*again)[i].tli != (*entries)[i].tli ||
        (*again)[i].switchpoint != (*entries)[i].switchpoint) {
      std::abort();
    }
  }
  if (again->back().tli != parent || again->back().switchpoint != sp) std::abort();
  return 0;
}
