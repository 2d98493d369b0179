#include "wire/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <nmmintrin.h>
#include <wmmintrin.h>
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

// Read once at load time rather than behind a function-local static: Crc32cExtend runs
// once per WAL record, and the guard check of a local static showed in profiles.
// __builtin_cpu_init is required before __builtin_cpu_supports in a static initializer.
const bool kHaveSse42 = (__builtin_cpu_init(), __builtin_cpu_supports("sse4.2"));
const bool kHavePclmul = kHaveSse42 && __builtin_cpu_supports("pclmul");
// The 512-bit form of the same multiply (Ice Lake and later, Zen 4); the check covers the
// operating system saving the ZMM registers too.
const bool kHaveWideFolding = kHavePclmul && __builtin_cpu_supports("avx512f") &&
                              __builtin_cpu_supports("vpclmulqdq");

bool HardwareAvailable() { return kHaveSse42; }
bool FoldingAvailable() { return kHavePclmul; }
bool WideFoldingAvailable() { return kHaveWideFolding; }

// Three streams of crc32 instructions at once. One crc32q has a latency of three cycles
// but a throughput of one per cycle, so a single dependent chain runs at a third of what
// the unit can do; a buffer of at least three lanes is split into three independent chains
// whose results are joined by shifting: for this linear register, the value after A then B
// is Shift(value after A, |B|) ^ (B from zero). Shift by a lane's length is a table
// lookup (kLaneShift), so the join costs eight lookups per 3 x kLane bytes.
constexpr size_t kLane = 1024;  // bytes per lane; 3 KiB per round (a WAL page is 8 KiB)

// GF(2) 32x32 matrices as 32 column vectors: column i is the image of bit i.
using Matrix = std::array<uint32_t, 32>;

constexpr uint32_t Apply(const Matrix& m, uint32_t v) {
  uint32_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) out ^= m[i];
  }
  return out;
}

constexpr Matrix Multiply(const Matrix& a, const Matrix& b) {
  Matrix out{};
  for (int i = 0; i < 32; ++i) out[i] = Apply(a, b[i]);
  return out;
}

// The operator "feed n zero bytes" on the raw (un-inverted) register.
constexpr Matrix ZeroBytesOperator(size_t n) {
  Matrix bit{};  // one zero bit
  bit[0] = kPolynomial;
  for (int i = 1; i < 32; ++i) bit[i] = uint32_t{1} << (i - 1);
  Matrix byte = bit;
  for (int i = 0; i < 3; ++i) byte = Multiply(byte, byte);  // 8 bits
  Matrix result{};
  for (int i = 0; i < 32; ++i) result[i] = uint32_t{1} << i;
  for (Matrix sq = byte; n != 0; n >>= 1, sq = Multiply(sq, sq)) {
    if (n & 1) result = Multiply(result, sq);
  }
  return result;
}

// kLaneShift[k][b]: the operator applied to byte b in byte position k of the register.
constexpr std::array<std::array<uint32_t, 256>, 4> MakeShiftTables(size_t n) {
  const Matrix m = ZeroBytesOperator(n);
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = Apply(m, b << (8 * k));
  }
  return t;
}

constexpr auto kLaneShift = MakeShiftTables(kLane);

inline uint32_t ShiftLane(uint32_t crc) {
  return kLaneShift[0][crc & 0xFF] ^ kLaneShift[1][(crc >> 8) & 0xFF] ^
         kLaneShift[2][(crc >> 16) & 0xFF] ^ kLaneShift[3][crc >> 24];
}

// Whatever is left after the wide loops: 8-byte words, then the last 0..7 bytes in at
// most three instructions.
__attribute__((target("sse4.2"))) inline uint32_t Tail(uint32_t crc, const uint8_t* p,
                                                       size_t n) {
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    c = _mm_crc32_u64(c, word);
  }
  crc = static_cast<uint32_t>(c);
  if (n & 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    crc = _mm_crc32_u32(crc, w);
    p += 4;
  }
  if (n & 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    crc = _mm_crc32_u16(crc, w);
    p += 2;
  }
  if (n & 1) crc = _mm_crc32_u8(crc, *p);
  return crc;
}

// Compiled for SSE4.2 on its own so the rest of the binary keeps the baseline ISA; only
// reached after the run-time check above.
__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const uint8_t* p,
                                                          size_t n) {
  // No alignment prologue: the instruction takes unaligned words at full speed.
  uint64_t c0 = crc;
  while (n >= 3 * kLane) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < kLane; i += 8) {
      uint64_t w0, w1, w2;  // the instruction consumes little-endian words
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + kLane + i, 8);
      std::memcpy(&w2, p + 2 * kLane + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c0 = ShiftLane(ShiftLane(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1)) ^
         static_cast<uint32_t>(c2);
    p += 3 * kLane;
    n -= 3 * kLane;
  }
  return Tail(static_cast<uint32_t>(c0), p, n);
}

// Carry-less multiplication (PCLMULQDQ), the method of Intel's "Fast CRC Computation for
// Generic Polynomials Using PCLMULQDQ". crc32q runs one 8-byte step every three cycles on
// some CPUs whatever the interleave (AMD EPYC here: 5.7 GB/s with three lanes), and most WAL
// records are far shorter than a 3 KiB round anyway; folding 64 bytes at a time with
// independent multiplications is not bound by that and helps records from 64 bytes up.
//
// The register, with the running CRC xored into the first four bytes, is congruent (mod P)
// to the message read as one polynomial. A 16-byte block X (low quadword H: the first eight
// bytes, the higher-degree terms, as the reflected bit order puts them) standing D bits
// before another is replaced by X * x^D mod P, split as H * (x^(D+64) mod P) +
// L * (x^D mod P); each product is one carry-less multiply by a 32-bit constant, which
// the reflected order offsets by 33 bits — hence the exponents D+31 and D-33. When one block
// is left, the CRC of the whole prefix is the crc32 instruction over that block from zero.
constexpr uint64_t XPowModP(int n) {  // x^n mod P, in the reflected order of the register
  uint32_t v = 0x80000000u;           // x^0
  for (int i = 0; i < n; ++i) v = (v & 1) ? (v >> 1) ^ kPolynomial : v >> 1;
  return v;
}

__attribute__((target("sse4.2,pclmul"))) inline __m128i Fold(__m128i x, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

__attribute__((target("sse4.2,pclmul"))) inline __m128i Load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// The end of both foldings: four registers holding consecutive 16-byte blocks (x0 first)
// are folded into one, then the rest of the input 16 bytes at a time; the CRC of it all is
// the crc32 instruction over the last block from zero, then over the tail bytes.
__attribute__((target("sse4.2,pclmul"))) inline uint32_t FinishFolding(
    __m128i x0, __m128i x1, __m128i x2, __m128i x3, const uint8_t* p, size_t n) {
  static constexpr uint64_t k128lo = XPowModP(128 + 31), k128hi = XPowModP(128 - 33);
  const __m128i k128 = _mm_set_epi64x(k128hi, k128lo);
  x1 = _mm_xor_si128(Fold(x0, k128), x1);
  x2 = _mm_xor_si128(Fold(x1, k128), x2);
  x3 = _mm_xor_si128(Fold(x2, k128), x3);
  while (n >= 16) {
    x3 = _mm_xor_si128(Fold(x3, k128), Load(p));
    p += 16;
    n -= 16;
  }
  uint64_t c = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(x3)));
  c = _mm_crc32_u64(c, static_cast<uint64_t>(_mm_extract_epi64(x3, 1)));
  return Tail(static_cast<uint32_t>(c), p, n);
}

__attribute__((target("sse4.2,pclmul"))) uint32_t ExtendFolding(uint32_t crc, const uint8_t* p,
                                                                 size_t n) {
  // _mm_set_epi64x takes (high, low): the low constant multiplies H.
  const __m128i k512 = _mm_set_epi64x(XPowModP(512 - 33), XPowModP(512 + 31));
  __m128i x0 = _mm_xor_si128(Load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x1 = Load(p + 16), x2 = Load(p + 32), x3 = Load(p + 48);
  p += 64;
  n -= 64;
  while (n >= 64) {
    x0 = _mm_xor_si128(Fold(x0, k512), Load(p));
    x1 = _mm_xor_si128(Fold(x1, k512), Load(p + 16));
    x2 = _mm_xor_si128(Fold(x2, k512), Load(p + 32));
    x3 = _mm_xor_si128(Fold(x3, k512), Load(p + 48));
    p += 64;
    n -= 64;
  }
  return FinishFolding(x0, x1, x2, x3, p, n);
}

// ExtendFolding four blocks at a time: each 512-bit register holds four consecutive
// 16-byte blocks, and one multiply folds all four. Four registers take 256 bytes per
// round (fold distance 2048 bits); what remains is folded into one register, then its four
// blocks are folded as ExtendFolding's four registers are. Twice ExtendFolding's rate
// here: a catch-up computes the CRC of every WAL byte it receives.
__attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq"))) inline __m512i Fold4(__m512i x,
                                                                                __m512i k) {
  return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00),
                          _mm512_clmulepi64_epi128(x, k, 0x11));
}

__attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq"))) inline __m512i Load4(
    const uint8_t* p) {
  return _mm512_loadu_si512(p);
}

__attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq"))) uint32_t ExtendWideFolding(
    uint32_t crc, const uint8_t* p, size_t n) {
  // Constant expressions: computed by the compiler, not on each call.
  static constexpr uint64_t k2048lo = XPowModP(2048 + 31), k2048hi = XPowModP(2048 - 33);
  static constexpr uint64_t k512lo = XPowModP(512 + 31), k512hi = XPowModP(512 - 33);
  const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(k2048hi, k2048lo));
  const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x(k512hi, k512lo));
  __m512i x0 = _mm512_xor_si512(
      Load4(p), _mm512_inserti32x4(_mm512_setzero_si512(),
                                  _mm_cvtsi32_si128(static_cast<int>(crc)), 0));
  __m512i x1 = Load4(p + 64), x2 = Load4(p + 128), x3 = Load4(p + 192);
  p += 256;
  n -= 256;
  while (n >= 256) {
    x0 = _mm512_xor_si512(Fold4(x0, k2048), Load4(p));
    x1 = _mm512_xor_si512(Fold4(x1, k2048), Load4(p + 64));
    x2 = _mm512_xor_si512(Fold4(x2, k2048), Load4(p + 128));
    x3 = _mm512_xor_si512(Fold4(x3, k2048), Load4(p + 192));
    p += 256;
    n -= 256;
  }
  x1 = _mm512_xor_si512(Fold4(x0, k512), x1);
  x2 = _mm512_xor_si512(Fold4(x1, k512), x2);
  x3 = _mm512_xor_si512(Fold4(x2, k512), x3);
  while (n >= 64) {
    x3 = _mm512_xor_si512(Fold4(x3, k512), Load4(p));
    p += 64;
    n -= 64;
  }
  return FinishFolding(_mm512_extracti32x4_epi32(x3, 0), _mm512_extracti32x4_epi32(x3, 1),
                       _mm512_extracti32x4_epi32(x3, 2), _mm512_extracti32x4_epi32(x3, 3), p, n);
}

#else

bool HardwareAvailable() { return false; }
bool FoldingAvailable() { return false; }
bool WideFoldingAvailable() { return false; }
uint32_t ExtendWideFolding(uint32_t crc, const uint8_t* p, size_t n) {
  return ExtendPortable(crc, p, n);
}
uint32_t ExtendHardware(uint32_t crc, const uint8_t* p, size_t n) {
  return ExtendPortable(crc, p, n);
}
uint32_t ExtendFolding(uint32_t crc, const uint8_t* p, size_t n) {
  return ExtendPortable(crc, p, n);
}

#endif

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (size >= crc32c_internal::kWideFoldingMin && crc32c_internal::WideFoldingAvailable()) {
    return crc32c_internal::ExtendWideFolding(crc, p, size);
  }
  if (size >= crc32c_internal::kFoldingMin && crc32c_internal::FoldingAvailable()) {
    return crc32c_internal::ExtendFolding(crc, p, size);
  }
  if (crc32c_internal::HardwareAvailable()) {
    return crc32c_internal::ExtendHardware(crc, p, size);
  }
  return crc32c_internal::ExtendPortable(crc, p, size);
}

}  // namespace walrep
