// The streaming-replication sub-messages carried inside CopyData (PROTOCOL.md §3):
// XLogData 'w' and PrimaryKeepalive 'k' (primary → standby), StandbyStatusUpdate 'r' and
// HotStandbyFeedback 'h' (standby → primary). Every message is decoded and encoded in
// both directions so that fake primaries in tests share the same code. The functions
// work on the CopyData payload (Frame::body of a 'd' message, tag byte first) and return
// the payload, unframed: wrap it with EncodeCopyData(). Pure; safe from any thread.
#ifndef WALREP_WIRE_REPLICATION_MESSAGES_H_
#define WALREP_WIRE_REPLICATION_MESSAGES_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "wire/lsn.h"

namespace walrep {

// PostgreSQL timestamps count microseconds since 2000-01-01 00:00:00 UTC.
inline constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000;
// Saturates at the int64 range (absl's infinite times map to the extremes).
int64_t ToPostgresMicros(absl::Time t);
absl::Time FromPostgresMicros(int64_t micros);

inline constexpr size_t kXLogDataHeaderSize = 25;
inline constexpr size_t kPrimaryKeepaliveSize = 18;
inline constexpr size_t kStandbyStatusUpdateSize = 34;
inline constexpr size_t kHotStandbyFeedbackSize = 25;

// 'w': a run of WAL bytes starting at `start`. `data` views into the decoded payload.
struct XLogData {
  Lsn start;
  Lsn wal_end;            // the primary's current end of WAL
  int64_t send_time = 0;  // PostgreSQL epoch µs
  absl::string_view data;
};

// 'k': the primary's position and whether it wants an immediate status update.
struct PrimaryKeepalive {
  Lsn wal_end;
  int64_t send_time = 0;
  bool reply_requested = false;
};

// 'r': the standby's progress. Each position is the "next byte" — the LSN just past the
// last byte written / flushed / applied (pg_receivewal and walreceiver send exactly this;
// the primary treats it as exclusive). The encoder sends the values as given; callers pass
// end positions, not last-byte positions. `flush` must only cover fsynced WAL.
struct StandbyStatusUpdate {
  Lsn write;
  Lsn flush;
  Lsn apply;
  int64_t client_time = 0;  // PostgreSQL epoch µs
  bool reply_requested = false;
};

// 'h': hot-standby feedback (xmin 0 = none).
struct HotStandbyFeedback {
  int64_t client_time = 0;
  uint32_t xmin = 0;
  uint32_t xmin_epoch = 0;
  uint32_t catalog_xmin = 0;
  uint32_t catalog_xmin_epoch = 0;
};

// Decoders: DataLoss on a wrong tag, wrong size, or (XLogData) a range that would run past
// 2^64. A reply/ack byte is true when nonzero, as walreceiver reads it.
absl::StatusOr<XLogData> DecodeXLogData(absl::string_view payload);
// The same for a payload received in two parts: its kXLogDataHeaderSize-byte header,
// and the WAL that follows it, elsewhere (a body placed by a CopyDataPlacer).
absl::StatusOr<XLogData> DecodeXLogData(absl::string_view header, absl::string_view data);
absl::StatusOr<PrimaryKeepalive> DecodePrimaryKeepalive(absl::string_view payload);
absl::StatusOr<StandbyStatusUpdate> DecodeStandbyStatusUpdate(absl::string_view payload);
absl::StatusOr<HotStandbyFeedback> DecodeHotStandbyFeedback(absl::string_view payload);

// What a standby receives in CopyBoth mode: dispatches on the tag; any other tag
// (including an empty payload) is DataLoss naming it.
using PrimaryMessage = std::variant<XLogData, PrimaryKeepalive>;
absl::StatusOr<PrimaryMessage> DecodePrimaryMessage(absl::string_view payload);

std::string EncodeXLogData(const XLogData& m);
std::string EncodePrimaryKeepalive(const PrimaryKeepalive& m);
std::string EncodeStandbyStatusUpdate(const StandbyStatusUpdate& m);
std::string EncodeHotStandbyFeedback(const HotStandbyFeedback& m);

}  // namespace walrep

#endif  // WALREP_WIRE_REPLICATION_MESSAGES_H_
