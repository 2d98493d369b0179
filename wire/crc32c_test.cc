#include "wire/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using crc32c_internal::ExtendHardware;
using crc32c_internal::ExtendPortable;
using crc32c_internal::HardwareAvailable;

uint32_t Portable(absl::string_view s) {
  return Crc32cFinish(
      ExtendPortable(kCrc32cInit, reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// Known answers: the classic check value and the RFC 3720 (iSCSI) appendix B.4 vectors.
struct Vector {
  std::string data;
  uint32_t crc;
};

std::vector<Vector> KnownVectors() {
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  for (int i = 31; i >= 0; --i) descending.push_back(static_cast<char>(i));
  const unsigned char iscsi_read[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                        0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                        0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  return {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},
      {"a", 0xC1D04330u},
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xff'), 0x62A8AB43u},
      {ascending, 0x46DD794Eu},
      {descending, 0x113FDB5Cu},
      {std::string(reinterpret_cast<const char*>(iscsi_read), 48), 0xD9963A56u},
  };
}

TEST(Crc32cTest, KnownVectorsDispatched) {
  for (const auto& v : KnownVectors()) EXPECT_EQ(Crc32c(v.data), v.crc) << v.data.size();
}

TEST(Crc32cTest, KnownVectorsPortable) {
  for (const auto& v : KnownVectors()) EXPECT_EQ(Portable(v.data), v.crc) << v.data.size();
}

TEST(Crc32cTest, KnownVectorsHardware) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  for (const auto& v : KnownVectors()) {
    uint32_t crc = Crc32cFinish(ExtendHardware(
        kCrc32cInit, reinterpret_cast<const uint8_t*>(v.data.data()), v.data.size()));
    EXPECT_EQ(crc, v.crc) << v.data.size();
  }
}

// Every split point and alignment gives the same answer in both implementations.
TEST(Crc32cTest, IncrementalAndAlignmentAgree) {
  std::string buf;
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245u + 12345u;
    buf.push_back(static_cast<char>(x >> 16));
  }
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t len = 0; len + offset <= buf.size(); len += 7) {
      absl::string_view s(buf.data() + offset, len);
      uint32_t whole = Portable(s);
      EXPECT_EQ(Crc32c(s), whole);
      for (size_t split = 0; split <= len; split += 5) {
        uint32_t c = Crc32cExtend(kCrc32cInit, s.substr(0, split));
        c = Crc32cExtend(c, s.substr(split));
        ASSERT_EQ(Crc32cFinish(c), whole) << offset << " " << len << " " << split;
      }
    }
  }
}

// Buffers long enough for the hardware path's three interleaved lanes (3 KiB rounds),
// at every alignment and at lengths around the round boundaries, agree with the tables.
TEST(Crc32cTest, InterleavedLanesAgreeWithTables) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::string buf;
  uint32_t x = 777;
  for (int i = 0; i < 3 * 3072 + 64; ++i) {
    x = x * 1103515245u + 12345u;
    buf.push_back(static_cast<char>(x >> 16));
  }
  const auto* data = reinterpret_cast<const uint8_t*>(buf.data());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t len : {3071, 3072, 3073, 3079, 6143, 6144, 6151, 8192, 9216}) {
      ASSERT_EQ(ExtendHardware(kCrc32cInit, data + offset, len),
                crc32c_internal::ExtendPortable(kCrc32cInit, data + offset, len))
          << offset << " " << len;
      ASSERT_EQ(ExtendHardware(0x12345678u, data + offset, len),
                crc32c_internal::ExtendPortable(0x12345678u, data + offset, len))
          << offset << " " << len;
    }
  }
}

// A folding path at every length from its minimum through several rounds (each
// remainder of 64- or 16-byte blocks and tail bytes), at every alignment, from two starting
// registers, agrees with the tables; so does a long buffer.
void CheckAgainstTables(uint32_t (*extend)(uint32_t, const uint8_t*, size_t), size_t min,
                        size_t max) {
  std::string buf;
  uint32_t x = 4242;
  for (int i = 0; i < 70000; ++i) {
    x = x * 1103515245u + 12345u;
    buf.push_back(static_cast<char>(x >> 16));
  }
  const auto* data = reinterpret_cast<const uint8_t*>(buf.data());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t len = min; len <= max; ++len) {
      for (uint32_t init : {kCrc32cInit, 0x12345678u}) {
        ASSERT_EQ(extend(init, data + offset, len), ExtendPortable(init, data + offset, len))
            << offset << " " << len << " " << init;
      }
    }
  }
  EXPECT_EQ(extend(kCrc32cInit, data + 3, 65536 + 13),
            ExtendPortable(kCrc32cInit, data + 3, 65536 + 13));
}

TEST(Crc32cTest, FoldingAgreesWithTables) {
  if (!crc32c_internal::FoldingAvailable()) GTEST_SKIP() << "no PCLMULQDQ on this CPU";
  CheckAgainstTables(crc32c_internal::ExtendFolding, crc32c_internal::kFoldingMin, 400);
}

TEST(Crc32cTest, WideFoldingAgreesWithTables) {
  if (!crc32c_internal::WideFoldingAvailable()) {
    GTEST_SKIP() << "no AVX-512 VPCLMULQDQ on this CPU";
  }
  CheckAgainstTables(crc32c_internal::ExtendWideFolding, crc32c_internal::kWideFoldingMin, 1100);
}

TEST(Crc32cTest, Accumulator) {
  Crc32cAccumulator acc;
  acc.Update("1234");
  acc.Update("");
  acc.Update("56789");
  EXPECT_EQ(acc.Value(), 0xE3069283u);
}

}  // namespace
}  // namespace walrep
