// backup_manifest, the JSON file PostgreSQL 13+ sends after the archives of a BASE_BACKUP:
// every file with its size and checksum, the WAL range the backup needs, and a SHA-256 of
// the manifest itself. Decoding is pure (bytes in, value out), strict about structure and
// types as PostgreSQL's parse_manifest.c is, and capped. Grammar: manifest_format.md.
//
// Values only: thread-compatible; ParseBackupManifest is thread-safe.
#ifndef WALREP_BACKUP_MANIFEST_H_
#define WALREP_BACKUP_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backup/checksum_algorithm.h"
#include "wire/lsn.h"

namespace walrep {

struct ManifestFile {
  std::string path;  // relative to the data directory; from Path or hex Encoded-Path
  uint64_t size = 0;
  std::string last_modified;  // as written ("2024-01-01 00:00:00 GMT"); informational
  ChecksumAlgorithm algorithm = ChecksumAlgorithm::kNone;
  // Raw checksum bytes (hex-decoded). For CRC32C, the CRC's four bytes in the primary's
  // native order (PostgreSQL memcpys the uint32), i.e. little-endian on x86/ARM.
  std::string checksum;
};

struct WalRange {
  TimelineId timeline = 0;
  Lsn start_lsn;
  Lsn end_lsn;
};

struct BackupManifest {
  int version = 0;                            // 1, or 2 (PostgreSQL 17+)
  std::optional<uint64_t> system_identifier;  // version 2 only
  std::vector<ManifestFile> files;
  std::vector<WalRange> wal_ranges;
  std::string manifest_checksum;  // 32 raw bytes (SHA-256), already verified
};

struct ManifestLimits {
  size_t max_bytes = size_t{1} << 30;
  size_t max_files = 10'000'000;
};

// Parses and verifies `bytes`. Structure, types, duplicate paths, unknown fields, a bad or
// mismatching Manifest-Checksum: all DataLoss ("backup manifest: ..."). Over a cap:
// ResourceExhausted.
//
// The checksum rule, as PostgreSQL's verify_manifest_checksum applies it: the file must
// end with a newline and contain at least two; SHA-256 covers every byte up to and
// including the second-to-last newline, i.e. everything before the final line that holds
// "Manifest-Checksum" (that line is excluded wherever the key sits in it).
absl::StatusOr<BackupManifest> ParseBackupManifest(absl::string_view bytes,
                                                   ManifestLimits limits = {});

}  // namespace walrep

#endif  // WALREP_BACKUP_MANIFEST_H_
