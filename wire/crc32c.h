// CRC-32C (Castagnoli), computed exactly as PostgreSQL's pg_crc32c: the running value
// starts at kCrc32cInit, bytes are folded in with Crc32cExtend, and the final value is
// Crc32cFinish(running) (xor with all ones). PostgreSQL uses it for WAL record CRCs and
// for backup-manifest file checksums, so both of those checks rely on this one routine.
//
// Debian's Abseil predates absl/crc, hence this implementation: slicing-by-8 tables
// everywhere, the SSE4.2 crc32 instruction when the CPU reports it at run time, and
// PCLMULQDQ folding for buffers of 64 bytes and more when the CPU has it.
// All functions are pure and thread-safe.
#ifndef WALREP_WIRE_CRC32C_H_
#define WALREP_WIRE_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace walrep {

inline constexpr uint32_t kCrc32cInit = 0xFFFFFFFFu;

// Folds `data` into a running (not yet finished) CRC, like PostgreSQL's COMP_CRC32C.
// Extending with a split of the same bytes gives the same result as one call.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32cExtend(uint32_t crc, absl::string_view data) {
  return Crc32cExtend(crc, data.data(), data.size());
}

// The finished value, like PostgreSQL's FIN_CRC32C.
inline constexpr uint32_t Crc32cFinish(uint32_t crc) { return crc ^ 0xFFFFFFFFu; }

// The finished CRC of one buffer: Crc32cFinish(Crc32cExtend(kCrc32cInit, data)).
inline uint32_t Crc32c(absl::string_view data) {
  return Crc32cFinish(Crc32cExtend(kCrc32cInit, data));
}

// Accumulates a CRC over data that arrives in pieces (a file streamed from an archive).
// Thread-compatible value type.
class Crc32cAccumulator {
 public:
  void Update(absl::string_view data) { crc_ = Crc32cExtend(crc_, data); }
  uint32_t Value() const { return Crc32cFinish(crc_); }

 private:
  uint32_t crc_ = kCrc32cInit;
};

// The two implementations behind Crc32cExtend, exposed so tests can check that they agree.
namespace crc32c_internal {
uint32_t ExtendPortable(uint32_t crc, const uint8_t* data, size_t size);
// True when ExtendHardware may be called (x86-64 with SSE4.2).
bool HardwareAvailable();
// Requires HardwareAvailable().
uint32_t ExtendHardware(uint32_t crc, const uint8_t* data, size_t size);
// True when ExtendFolding may be called (SSE4.2 and PCLMULQDQ).
bool FoldingAvailable();
// Carry-less-multiply folding; requires FoldingAvailable() and size >= kFoldingMin.
inline constexpr size_t kFoldingMin = 64;
uint32_t ExtendFolding(uint32_t crc, const uint8_t* data, size_t size);
// True when ExtendWideFolding may be called (also AVX-512 and VPCLMULQDQ).
bool WideFoldingAvailable();
// The same folding on 512-bit registers; requires WideFoldingAvailable() and
// size >= kWideFoldingMin.
inline constexpr size_t kWideFoldingMin = 256;
uint32_t ExtendWideFolding(uint32_t crc, const uint8_t* data, size_t size);
}  // namespace crc32c_internal

}  // namespace walrep

#endif  // WALREP_WIRE_CRC32C_H_
