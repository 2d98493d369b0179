// Little-endian field reads for WAL, which is written in the primary's byte order —
// little-endian on every platform walrep supports. Pure; thread-safe.
#ifndef WALREP_REPLAY_LE_BYTES_H_
#define WALREP_REPLAY_LE_BYTES_H_

#include <cstdint>

namespace walrep {

inline uint16_t Le16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                               (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
}
inline uint32_t Le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t Le64(const char* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

}  // namespace walrep

#endif  // WALREP_REPLAY_LE_BYTES_H_
