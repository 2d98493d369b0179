#include "wire/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define WALREP_CRC32C_HAVE_SSE42 1
#endif

namespace walrep {
namespace crc32c_internal {
namespace {

// Reflected Castagnoli polynomial (0x1EDC6F41 bit-reversed).
constexpr uint32_t kPolynomial = 0x82F63B78u;

// kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC contribution of
// byte b followed by k zero bytes, which lets the loop below fold 8 bytes per step with
// independent lookups (slicing-by-8). Built at compile time: no start-up work, no races.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t prev = t[k - 1][i];
      t[k][i] = (prev >> 8) ^ t[0][prev & 0xFF];
    }
  }
  return t;
}

constexpr auto kTables = MakeTables();

// Byte-wise little-endian load, so the table path is correct on any host byte order.
inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint32_t lo = LoadLe32(p) ^ crc;
    uint32_t hi = LoadLe32(p + 4);
    crc = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
          kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
          kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#ifdef WALREP_CRC32C_HAVE_SSE42

bool HardwareAvailable() {
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
}

// Compiled for SSE4.2 on its own so the rest of the binary keeps the baseline ISA; only
// reached after the run-time check above.
__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const uint8_t* p,
                                                          size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  uint64_t c64 = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));  // the instruction consumes little-endian words
    c64 = _mm_crc32_u64(c64, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(c64);
  while (n-- > 0) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

#else

bool HardwareAvailable() { return false; }
uint32_t ExtendHardware(uint32_t crc, const uint8_t* p, size_t n) {
  return ExtendPortable(crc, p, n);
}

#endif

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (crc32c_internal::HardwareAvailable()) {
    return crc32c_internal::ExtendHardware(crc, p, size);
  }
  return crc32c_internal::ExtendPortable(crc, p, size);
}

}  // namespace walrep
