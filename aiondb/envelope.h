// aiondb's replication envelope: what one CopyData payload carries once
// START_REPLICATION entered COPY BOTH against an aiondb primary. Instead of
// PostgreSQL's 'w'/'k'/'r' sub-messages, each payload is exactly one
//   msg_type u8 | payload_len u32 LE | payload
// with
//   0x01 WalData             start_lsn u64 | end_lsn u64 | entries (non-empty, start <= end)
//   0x02 StandbyStatusUpdate write u64 | flush u64 | apply u64   (24 bytes, no timestamp)
//   0x03 Keepalive           wal_end u64 | timestamp_us u64 (Unix epoch) | reply u8 (0/1)
//   0x04 KeepaliveReply      timestamp_us u64
// (all little-endian; see README.md). Pure functions over byte spans; thread-safe.
#ifndef WALREP_AIONDB_ENVELOPE_H_
#define WALREP_AIONDB_ENVELOPE_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep::aiondb {

// aiondb caps one replication message payload at 8 MiB on both sides.
inline constexpr uint32_t kMaxMessagePayload = 8u << 20;

enum class MessageType : uint8_t {
  kWalData = 0x01,
  kStandbyStatusUpdate = 0x02,
  kKeepalive = 0x03,
  kKeepaliveReply = 0x04,
};

struct WalData {
  uint64_t start_lsn = 0;
  uint64_t end_lsn = 0;
  absl::string_view entries;  // a view into the decoded payload
};
struct StatusUpdate {
  uint64_t write_lsn = 0;
  uint64_t flush_lsn = 0;
  uint64_t apply_lsn = 0;
};
struct Keepalive {
  uint64_t wal_end = 0;
  uint64_t timestamp_us = 0;
  bool reply_requested = false;
};
struct KeepaliveReply {
  uint64_t timestamp_us = 0;
};
using Message = std::variant<WalData, StatusUpdate, Keepalive, KeepaliveReply>;

// Decodes one CopyData payload, which must hold exactly one message: trailing bytes, an
// unknown type, a wrong fixed size, a reply flag other than 0/1, an empty WalData or
// start > end, or a length over kMaxMessagePayload are DataLoss.
absl::StatusOr<Message> DecodeMessage(absl::string_view payload);

// Encoders. The status update refuses flush > write or apply > flush (InvalidArgument),
// as aiondb's encoder does: a primary must never be told more is durable than written.
absl::StatusOr<std::string> EncodeStatusUpdate(const StatusUpdate& update);
std::string EncodeWalData(uint64_t start_lsn, uint64_t end_lsn, absl::string_view entries);
std::string EncodeKeepalive(const Keepalive& keepalive);
std::string EncodeKeepaliveReply(const KeepaliveReply& reply);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_ENVELOPE_H_
