#include "wire/bytes.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(BytesTest, RoundTripsBigEndian) {
  std::string buf;
  ByteWriter w(&buf);
  w.PutU8(0xAB);
  w.PutU16(0x0102);
  w.PutU32(0x03040506);
  w.PutU64(0x0708090A0B0C0D0EULL);
  w.PutI32(-2);
  w.PutCString("hi");
  ASSERT_EQ(buf.size(), 1u + 2 + 4 + 8 + 4 + 3);
  EXPECT_EQ(static_cast<uint8_t>(buf[1]), 0x01);

  ByteReader r(buf);
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  int32_t i32;
  absl::string_view s;
  ASSERT_TRUE(r.ReadU8(&u8) && r.ReadU16(&u16) && r.ReadU32(&u32) && r.ReadU64(&u64) &&
              r.ReadI32(&i32) && r.ReadCString(&s));
  EXPECT_EQ(u8, 0xAB);
  EXPECT_EQ(u16, 0x0102);
  EXPECT_EQ(u32, 0x03040506u);
  EXPECT_EQ(u64, 0x0708090A0B0C0D0EULL);
  EXPECT_EQ(i32, -2);
  EXPECT_EQ(s, "hi");
  EXPECT_TRUE(r.empty());
}

TEST(BytesTest, NeverReadsPastTheEnd) {
  std::string buf("\x01\x02\x03", 3);
  ByteReader r(buf);
  uint32_t u32;
  EXPECT_FALSE(r.ReadU32(&u32));
  EXPECT_EQ(r.position(), 0u);
  absl::string_view s;
  EXPECT_FALSE(r.ReadCString(&s));
  EXPECT_FALSE(r.ReadBytes(4, &s));
  EXPECT_TRUE(r.ReadBytes(3, &s));
  EXPECT_TRUE(r.empty());
}

TEST(BytesTest, PatchesLength) {
  std::string buf;
  ByteWriter w(&buf);
  w.PutU32(0);
  w.PutBytes("abcd");
  w.PatchU32(0, static_cast<uint32_t>(buf.size()));
  ByteReader r(buf);
  uint32_t len;
  ASSERT_TRUE(r.ReadU32(&len));
  EXPECT_EQ(len, 8u);
}

}  // namespace
}  // namespace walrep
