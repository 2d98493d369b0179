// The per-file checksum kinds of a backup manifest (BASE_BACKUP's MANIFEST_CHECKSUMS), with
// their names and digest sizes. Pure functions, thread-safe.
#ifndef WALREP_BACKUP_CHECKSUM_ALGORITHM_H_
#define WALREP_BACKUP_CHECKSUM_ALGORITHM_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace walrep {

enum class ChecksumAlgorithm { kNone, kCrc32c, kSha224, kSha256, kSha384, kSha512 };

// "NONE", "CRC32C", "SHA224"...: case-insensitive, as pg_checksum_parse_type.
std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(absl::string_view name);
absl::string_view ChecksumAlgorithmName(ChecksumAlgorithm algorithm);
// Bytes of a checksum of this kind (0 for kNone).
size_t ChecksumLength(ChecksumAlgorithm algorithm);

}  // namespace walrep

#endif  // WALREP_BACKUP_CHECKSUM_ALGORITHM_H_
