#include "replay/segment.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace walrep {
namespace {

// PostgreSQL splits a segment number into (log id, segment in log id) where each log id
// covers 4 GiB of WAL.
uint64_t SegmentsPerLogId(uint64_t segment_size) {
  return (uint64_t{1} << 32) / segment_size;
}

bool ParseUpperHex32(absl::string_view s, uint32_t* out) {
  if (s.size() != 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

absl::Status NotWalName(absl::string_view name) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", name, "\" is not a WAL segment or history file name"));
}

}  // namespace

absl::Status ValidateSegmentSize(uint64_t segment_size) {
  bool pow2 = segment_size != 0 && (segment_size & (segment_size - 1)) == 0;
  if (!pow2 || segment_size < kMinSegmentSize || segment_size > kMaxSegmentSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WAL segment size ", segment_size,
        " is invalid: must be a power of two between 1 MiB and 1 GiB"));
  }
  return absl::OkStatus();
}

std::string SegmentFileName(TimelineId tli, uint64_t segno, uint64_t segment_size) {
  uint64_t per = SegmentsPerLogId(segment_size);
  return absl::StrFormat("%08X%08X%08X", tli, static_cast<uint32_t>(segno / per),
                         static_cast<uint32_t>(segno % per));
}

std::string PartialSegmentFileName(TimelineId tli, uint64_t segno, uint64_t segment_size) {
  return absl::StrCat(SegmentFileName(tli, segno, segment_size), ".partial");
}

std::string HistoryFileName(TimelineId tli) { return absl::StrFormat("%08X.history", tli); }

absl::StatusOr<WalFileName> ParseWalFileName(absl::string_view name,
                                             uint64_t segment_size) {
  WalFileName out;
  uint32_t tli = 0;
  if (name.size() == 16 && absl::EndsWith(name, ".history")) {
    if (!ParseUpperHex32(name.substr(0, 8), &tli) || tli == 0) return NotWalName(name);
    out.kind = WalFileName::Kind::kHistory;
    out.tli = tli;
    return out;
  }
  absl::string_view base = name;
  out.kind = WalFileName::Kind::kSegment;
  if (absl::ConsumeSuffix(&base, ".partial")) out.kind = WalFileName::Kind::kPartial;
  uint32_t log = 0, seg = 0;
  if (base.size() != 24 || !ParseUpperHex32(base.substr(0, 8), &tli) ||
      !ParseUpperHex32(base.substr(8, 8), &log) || !ParseUpperHex32(base.substr(16, 8), &seg) ||
      tli == 0) {
    return NotWalName(name);
  }
  uint64_t per = SegmentsPerLogId(segment_size);
  if (seg >= per) return NotWalName(name);
  out.tli = tli;
  out.segno = uint64_t{log} * per + seg;
  return out;
}

}  // namespace walrep
