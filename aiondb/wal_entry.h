// One aiondb WAL entry, as aiondb-wal's codec lays it out (all little-endian):
//   payload_len u32 | lsn u64 | body | checksum u32        payload_len = 8 + |body| + 4
// The checksum covers lsn + body: CRC-32C, or the legacy FNV-1a (32-bit) older aiondb
// versions wrote. The body is either the record itself (unframed: a WalRecord tag byte,
// then its fields) or framed:
//   0xFF | fmt u8 (1, 2, 3) | compression u8 (0 none, 1 lz4 block, 2 zstd)
//        | [fmt >= 2: prev_lsn u64] | [fmt 3: database_id u32] | original_len u32 | data
// where data decompresses to exactly original_len record bytes. A decoded record is
// capped at 64 MiB, and a compressed one of under 4 KiB may not claim more than 4096
// times its size (aiondb's caps, which keep a forged entry from forcing a huge
// allocation). Entries are the same bytes in the stream and in aiondb's WAL files.
//
// Pure functions; thread-safe.
#ifndef WALREP_AIONDB_WAL_ENTRY_H_
#define WALREP_AIONDB_WAL_ENTRY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep::aiondb {

inline constexpr uint32_t kMaxRecordBytes = 64u << 20;
inline constexpr uint32_t kMaxDecompressionRatio = 4096;
// The smallest entry: length, LSN, a one-byte record, checksum.
inline constexpr size_t kMinEntryBytes = 4 + 8 + 1 + 4;
// The database an unframed entry belongs to (aiondb's legacy default).
inline constexpr uint32_t kLegacyDatabaseId = 1;

enum class Compression : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };
enum class ChecksumKind : uint8_t { kCrc32c, kLegacyFnv1a };

struct Entry {
  uint64_t lsn = 0;
  uint64_t prev_lsn = 0;  // 0 when the entry does not say (unframed, framed v1)
  uint32_t database_id = kLegacyDatabaseId;
  bool framed = false;
  uint8_t frame_version = 0;  // 1..3 when framed
  Compression compression = Compression::kNone;
  ChecksumKind checksum = ChecksumKind::kCrc32c;
  std::string record;   // the decompressed record: tag byte first
  size_t encoded_len = 0;  // bytes the entry occupies: 4 + payload_len
};

// 32-bit FNV-1a, the checksum aiondb's entries carried before CRC-32C.
uint32_t LegacyFnv1a(absl::string_view data);

// Decodes the entry at the start of `data`. nullopt when `data` holds only part of it
// (the caller decides whether that is a torn tail or a malformed message); DataLoss for
// a checksum mismatch, a length below the minimum, a bad frame header, a failed or
// over-cap decompression, or an empty record.
absl::StatusOr<std::optional<Entry>> DecodeEntry(absl::string_view data);

// The checksum-verified header fields of the entry at the start of `data`, without
// decompressing it (nullopt when incomplete): what the receiver needs to check the
// chain, in one pass over the bytes. Same errors as DecodeEntry.
struct EntryHeader {
  uint64_t lsn = 0;
  uint64_t prev_lsn = 0;
  size_t encoded_len = 0;
};
absl::StatusOr<std::optional<EntryHeader>> DecodeEntryHeader(absl::string_view data);

struct EncodeOptions {
  uint64_t prev_lsn = 0;
  uint32_t database_id = kLegacyDatabaseId;
  Compression compression = Compression::kNone;
  ChecksumKind checksum = ChecksumKind::kCrc32c;
};
// Encodes as aiondb's encode_prepared_entry does: unframed when nothing needs the frame
// (no prev_lsn, legacy database, no compression that pays), else framed v3; a
// compression that does not shrink the record is dropped. InvalidArgument for an empty
// or over-cap record.
absl::StatusOr<std::string> EncodeEntry(uint64_t lsn, absl::string_view record,
                                        const EncodeOptions& options = {});

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_WAL_ENTRY_H_
