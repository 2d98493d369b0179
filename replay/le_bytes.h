// Little-endian field reads for WAL, which is written in the primary's byte order —
// little-endian on every platform walrep supports. Pure; thread-safe.
#ifndef WALREP_REPLAY_LE_BYTES_H_
#define WALREP_REPLAY_LE_BYTES_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace walrep {

// One unaligned load each (memcpy), byte-swapped only on a big-endian host: the
// byte-by-byte form compiled to a load and shift per byte (perf of a catch-up: most of
// the record reader's own time sat on those shifts).
inline uint16_t Le16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap16(v);
  return v;
}
inline uint32_t Le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t Le64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

}  // namespace walrep

#endif  // WALREP_REPLAY_LE_BYTES_H_
