#include "wire/lsn.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(LsnTest, FormatsLikePgLsn) {
  EXPECT_EQ(Lsn(0x16B3748).ToString(), "0/16B3748");
  EXPECT_EQ(Lsn(0x100000000ULL).ToString(), "1/0");
  EXPECT_EQ(Lsn(0xFFFFFFFFFFFFFFFFULL).ToString(), "FFFFFFFF/FFFFFFFF");
}

TEST(LsnTest, ParsesAndRoundTrips) {
  auto lsn = Lsn::Parse("1A/2b000028");
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(lsn->value(), 0x1A2B000028ULL);
  EXPECT_EQ(Lsn::Parse(lsn->ToString())->value(), lsn->value());
}

TEST(LsnTest, RejectsMalformed) {
  for (const char* bad : {"", "/", "0/", "/0", "0x1/0", "123456789/0", "0/123456789", "g/0",
                          "0-0", "0/0/0", " 0/0"}) {
    EXPECT_EQ(Lsn::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LsnTest, SegmentStartRoundsDown) {
  constexpr uint64_t kSeg = 16 * 1024 * 1024;
  EXPECT_EQ(Lsn(3 * kSeg + 17).SegmentStart(kSeg), Lsn(3 * kSeg));
  EXPECT_EQ(Lsn(3 * kSeg).SegmentStart(kSeg), Lsn(3 * kSeg));
}

}  // namespace
}  // namespace walrep
