// PostgreSQL WAL file naming: segment numbers from LSNs, the 24-hex-digit segment names
// (TTTTTTTTXXXXXXXXYYYYYYYY = timeline, "log" id, segment within the log id), the
// ".partial" suffix pg_receivewal uses for an incomplete segment and the
// "TTTTTTTT.history" timeline history names. Pure functions; thread-safe.
#ifndef WALREP_REPLAY_SEGMENT_H_
#define WALREP_REPLAY_SEGMENT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "wire/lsn.h"

namespace walrep {

inline constexpr uint64_t kMinSegmentSize = uint64_t{1} << 20;  // 1 MiB
inline constexpr uint64_t kMaxSegmentSize = uint64_t{1} << 30;  // 1 GiB
inline constexpr uint64_t kDefaultSegmentSize = uint64_t{16} << 20;

// OK for a power of two in [1 MiB, 1 GiB] (PostgreSQL's allowed wal_segment_size);
// InvalidArgument otherwise.
absl::Status ValidateSegmentSize(uint64_t segment_size);

// Segment number of the segment holding `lsn`; `segment_size` must be valid.
inline uint64_t SegmentNumber(Lsn lsn, uint64_t segment_size) {
  return lsn.value() / segment_size;
}
inline Lsn SegmentStartLsn(uint64_t segno, uint64_t segment_size) {
  return Lsn(segno * segment_size);
}
inline bool IsSegmentBoundary(Lsn lsn, uint64_t segment_size) {
  return lsn.value() % segment_size == 0;
}

// "000000010000000A000000FF" for timeline 1, segment 0xAFF of a 16 MiB segment size.
std::string SegmentFileName(TimelineId tli, uint64_t segno, uint64_t segment_size);
// SegmentFileName + ".partial".
std::string PartialSegmentFileName(TimelineId tli, uint64_t segno, uint64_t segment_size);
// "00000002.history".
std::string HistoryFileName(TimelineId tli);

// A parsed WAL directory entry name.
struct WalFileName {
  enum class Kind { kSegment, kPartial, kHistory };
  Kind kind = Kind::kSegment;
  TimelineId tli = 0;
  uint64_t segno = 0;  // 0 for kHistory
};

// Parses a segment, partial segment or history file name (upper-case hex, as PostgreSQL
// writes them). Anything else (temporaries, unrelated files, timeline 0, a segment
// field out of range for `segment_size`) is InvalidArgument.
absl::StatusOr<WalFileName> ParseWalFileName(absl::string_view name, uint64_t segment_size);

}  // namespace walrep

#endif  // WALREP_REPLAY_SEGMENT_H_
