// Writing tar (ustar) members: the standby configuration injected into a tar-format
// backup, and pg_wal.tar built from the streamed WAL. Names are at most 99 bytes, as in the
// archives PostgreSQL itself writes; sizes up to 8 GiB - 1 in octal, larger ones in the
// base-256 form GNU tar and PostgreSQL use. Pure: returns bytes.
#ifndef WALREP_BACKUP_TAR_WRITER_H_
#define WALREP_BACKUP_TAR_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

inline constexpr size_t kTarBlock = 512;

struct TarFileFields {
  std::string name;  // ≤ 99 bytes
  uint64_t size = 0;
  uint32_t mode = 0600;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;
};

// The header block of a regular file; InvalidArgument for a name over 99 bytes.
absl::StatusOr<std::string> TarFileHeader(const TarFileFields& f);
// Zero bytes that pad `size` content bytes to a whole block.
std::string TarPadding(uint64_t size);
// The two zero blocks that end an archive.
std::string TarEndOfArchive();

// Reads an octal or base-256 numeric field of a header block (for the injector's pass-
// through); InvalidArgument when it is neither.
absl::StatusOr<uint64_t> TarNumericField(absl::string_view field);

}  // namespace walrep

#endif  // WALREP_BACKUP_TAR_WRITER_H_
