// aiondb WAL file headers and names: decoding never crashes; a version 3 header
// re-encodes to its bytes; a parsed name formats back to itself when 12 digits long.
#include <cstdint>
#include <cstdlib>

#include "aiondb/wal_file.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace a = walrep::aiondb;
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto h = a::DecodeFileHeader(bytes);
  if (h.ok() && h->has_value()) {
    Check((*h)->entry_offset <= size);
    if ((*h)->version == 3 && bytes.substr(0, 8) == "AIONWAL1") {
      Check(a::EncodeFileHeader((*h)->lsn_mode, (*h)->system_id, (*h)->timeline) ==
            bytes.substr(0, a::kFileHeaderBytes));
    }
  }
  if (auto seq = a::ParseWalFileName(bytes); seq && bytes.size() == 20) {
    Check(a::WalFileName(*seq) == bytes);
  }
  return 0;
}
