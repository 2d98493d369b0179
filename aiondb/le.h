// Little-endian field reads and writes for aiondb's byte layouts: aiondb encodes every field of its envelope, WAL entries, WAL file
// header and BASE_BACKUP frames little-endian. Pure; thread-safe.
#ifndef WALREP_AIONDB_LE_H_
#define WALREP_AIONDB_LE_H_

#include <cstdint>
#include <string>


namespace walrep::aiondb {

inline uint32_t Le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t Le64(const char* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

inline void PutLe32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
inline void PutLe64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_LE_H_
