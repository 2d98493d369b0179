// Strong value types for WAL positions and timelines, and their textual forms.
// Values only: trivially copyable, thread-compatible.
#ifndef WALREP_WIRE_LSN_H_
#define WALREP_WIRE_LSN_H_

#include <compare>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// A byte position in the WAL stream (PostgreSQL's XLogRecPtr). 0 means "invalid/none".
class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }

  // PostgreSQL's "X/X" form: high and low 32 bits in upper-case hex, unpadded, as pg_lsn
  // prints it (e.g. "0/16B3748").
  std::string ToString() const;
  // Parses "X/X" (1-8 hex digits each side). Anything else is InvalidArgument.
  static absl::StatusOr<Lsn> Parse(absl::string_view text);

  // Rounds down to a multiple of `segment_size` (a power of two).
  constexpr Lsn SegmentStart(uint64_t segment_size) const {
    return Lsn(value_ - value_ % segment_size);
  }

  constexpr auto operator<=>(const Lsn&) const = default;
  constexpr Lsn operator+(uint64_t n) const { return Lsn(value_ + n); }
  constexpr uint64_t operator-(Lsn other) const { return value_ - other.value_; }

 private:
  uint64_t value_ = 0;
};

// A PostgreSQL timeline ID (1 on a fresh cluster; each promotion adds one).
using TimelineId = uint32_t;

}  // namespace walrep

#endif  // WALREP_WIRE_LSN_H_
