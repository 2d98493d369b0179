// ParseBackupManifest over arbitrary bytes: never crashes; whatever it accepts is
// internally consistent (checksum lengths match algorithms, no duplicate paths).
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "backup/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto manifest = walrep::ParseBackupManifest(input);
  if (!manifest.ok()) return 0;
  if (manifest->version != 1 && manifest->version != 2) std::abort();
  if (manifest->manifest_checksum.size() != 32) std::abort();
  std::set<std::string> paths;
  for (const auto& f : manifest->files) {
    if (f.checksum.size() != walrep::ChecksumLength(f.algorithm)) std::abort();
    if (!paths.insert(f.path).second) std::abort();
  }
  for (const auto& r : manifest->wal_ranges) {
    if (r.end_lsn < r.start_lsn || r.timeline == 0) std::abort();
  }
  return 0;
}
