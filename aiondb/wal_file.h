// aiondb's WAL files: `wal_NNNNNNNNNNNN.log` (a decimal sequence number, 12 digits,
// from 1) in the WAL directory, each opening with a 22-byte header
//   "AIONWAL1" | version u8 (3) | lsn_mode u8 (1 Logical, 2 ByteOffset)
//              | system_id u64 LE | timeline u32 LE
// followed by entries (wal_entry.h) back to back. Older aiondb wrote version 1 (magic and
// version only, 9 bytes) and 2 (with lsn_mode, 10 bytes), and the magic "AIONWAL\0";
// they are read, never written. Pure; thread-safe.
#ifndef WALREP_AIONDB_WAL_FILE_H_
#define WALREP_AIONDB_WAL_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep::aiondb {

// How LSNs advance: +1 per entry, or + the entry's encoded size. kUnknown only while a
// stream has shown fewer than two entries.
enum class LsnMode : uint8_t { kUnknown = 0, kLogical = 1, kByteOffset = 2 };

inline constexpr size_t kFileHeaderBytes = 22;
// aiondb rotates to the next file past this size by default.
inline constexpr uint64_t kDefaultFileBytes = 16u << 20;

struct FileHeader {
  uint8_t version = 3;
  LsnMode lsn_mode = LsnMode::kUnknown;  // kUnknown for version 1
  uint64_t system_id = 0;
  uint32_t timeline = 0;
  size_t entry_offset = kFileHeaderBytes;  // where the entries start
};

std::string WalFileName(uint64_t sequence);
// The sequence number of a WAL file name; nullopt for any other name.
std::optional<uint64_t> ParseWalFileName(absl::string_view name);

// Version 3 with `lsn_mode` (kUnknown is written as Logical; see wal_store.h).
std::string EncodeFileHeader(LsnMode lsn_mode, uint64_t system_id, uint32_t timeline);
// nullopt when `data` is shorter than the header its version needs; DataLoss for a bad
// magic, an unknown version or LSN mode.
absl::StatusOr<std::optional<FileHeader>> DecodeFileHeader(absl::string_view data);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_WAL_FILE_H_
