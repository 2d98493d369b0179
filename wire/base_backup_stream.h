// The CopyData sub-messages of a PostgreSQL 15+ BASE_BACKUP (PROTOCOL.md §5): the server
// sends one CopyOutResponse and then, inside CopyData, 'n' (a new archive: its name and
// the tablespace path, empty for the main data directory), 'd' (archive or manifest
// bytes), 'm' (the manifest follows) and 'p' (int64 progress: cumulative uncompressed
// archive bytes). Servers before 15 send raw tar in CopyData instead; this decoder is only
// for the 15+ framing.
//
// Pure: bytes in, value out, no I/O; `data` views into the payload. Thread-safe.
#ifndef WALREP_WIRE_BASE_BACKUP_STREAM_H_
#define WALREP_WIRE_BASE_BACKUP_STREAM_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// Archive names and tablespace paths are file names on the primary (MAXPGPATH is 1024).
inline constexpr size_t kMaxBackupArchiveField = 4096;

struct BaseBackupMessage {
  enum class Kind { kNewArchive, kData, kManifest, kProgress };
  Kind kind = Kind::kData;
  std::string archive_name;     // kNewArchive: "base.tar", "<oid>.tar"
  std::string tablespace_path;  // kNewArchive: "" for the main data directory
  absl::string_view data;       // kData
  int64_t progress = 0;         // kProgress (never negative)
};

// Decodes one CopyData payload (tag byte first). DataLoss names the problem: an empty
// payload, an unknown tag, a missing NUL, trailing bytes, an over-long name, an empty
// archive name, a negative progress value.
absl::StatusOr<BaseBackupMessage> DecodeBaseBackupMessage(absl::string_view payload);

// Encoders, for fake servers in tests.
std::string EncodeBaseBackupNewArchive(absl::string_view archive_name,
                                       absl::string_view tablespace_path);
std::string EncodeBaseBackupData(absl::string_view bytes);
std::string EncodeBaseBackupManifestFollows();
std::string EncodeBaseBackupProgress(int64_t bytes);

}  // namespace walrep

#endif  // WALREP_WIRE_BASE_BACKUP_STREAM_H_
