// aiondb's BASE_BACKUP framing: after a bare `BASE_BACKUP` the primary enters COPY OUT
// and sends frames
//   tag u8 | payload_len u32 LE | payload          (payload at most 8 MiB)
//   0x01 Header    wal_start_lsn u64 | timeline u32 | sysid_len u32 | sysid (UTF-8)
//   0x02 FileStart path_len u32 | path (UTF-8) | size u64
//   0x03 FileData  raw bytes
//   0x04 FileEnd, 0x05 BackupEnd: empty
// A frame may span CopyData messages, and one message may hold several. Unlike aiondb's
// decoder, trailing bytes inside Header/FileStart and a non-empty FileEnd/BackupEnd are
// rejected, and "need more bytes" is told apart from a malformed frame by length alone
// (aiondb matches the word "truncated" in its error text, so malformed complete frames are
// waited on). Pure; thread-safe.
#ifndef WALREP_AIONDB_BASE_BACKUP_FRAMES_H_
#define WALREP_AIONDB_BASE_BACKUP_FRAMES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep::aiondb {

inline constexpr uint32_t kMaxBackupFramePayload = 8u << 20;

struct BackupHeader {
  uint64_t wal_start_lsn = 0;
  uint32_t timeline = 0;
  std::string system_identifier;
};
struct FileStart {
  std::string path;
  uint64_t size = 0;
};
struct FileData {
  absl::string_view data;  // a view into the decoded buffer
};
struct FileEnd {};
struct BackupEnd {};
using BackupFrame = std::variant<BackupHeader, FileStart, FileData, FileEnd, BackupEnd>;

struct DecodedFrame {
  BackupFrame frame;
  size_t consumed = 0;
};
// The frame at the start of `data`; nullopt when it is not all there yet. DataLoss for an
// unknown tag, a payload over 8 MiB (before waiting for it), a malformed or over-long
// Header/FileStart, invalid UTF-8, or a payload on FileEnd/BackupEnd.
absl::StatusOr<std::optional<DecodedFrame>> DecodeBackupFrame(absl::string_view data);

// Encoders (the fake primary's, and tests').
std::string EncodeBackupHeader(const BackupHeader& header);
std::string EncodeFileStart(const FileStart& start);
std::string EncodeFileData(absl::string_view data);
std::string EncodeFileEnd();
std::string EncodeBackupEnd();

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_BASE_BACKUP_FRAMES_H_
