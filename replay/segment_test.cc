#include "replay/segment.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

constexpr uint64_t k16M = uint64_t{16} << 20;

TEST(SegmentSizeTest, AcceptsPowersOfTwoInRange) {
  for (uint64_t s = kMinSegmentSize; s <= kMaxSegmentSize; s <<= 1) {
    EXPECT_TRUE(ValidateSegmentSize(s).ok()) << s;
  }
  EXPECT_EQ(ValidateSegmentSize(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSegmentSize(kMinSegmentSize / 2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSegmentSize(kMaxSegmentSize * 2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSegmentSize(k16M + 8192).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SegmentNameTest, MatchesPostgresNaming) {
  // 0/3000000 with 16 MiB segments is segment 3 of log 0.
  EXPECT_EQ(SegmentFileName(1, SegmentNumber(Lsn(0x3000000), k16M), k16M),
            "000000010000000000000003");
  // 1/A2000000: log 1, segment 0xA2.
  EXPECT_EQ(SegmentFileName(2, SegmentNumber(Lsn(0x1A2000000), k16M), k16M),
            "0000000200000001000000A2");
  // 1 GiB segments: 4 per log id.
  EXPECT_EQ(SegmentFileName(0x1F, SegmentNumber(Lsn(0x2C0000000), uint64_t{1} << 30),
                            uint64_t{1} << 30),
            "0000001F0000000200000003");
  EXPECT_EQ(PartialSegmentFileName(1, 3, k16M), "000000010000000000000003.partial");
  EXPECT_EQ(HistoryFileName(2), "00000002.history");
  EXPECT_EQ(HistoryFileName(0xAB), "000000AB.history");
}

TEST(SegmentNameTest, LsnHelpers) {
  EXPECT_EQ(SegmentStartLsn(3, k16M), Lsn(0x3000000));
  EXPECT_TRUE(IsSegmentBoundary(Lsn(0x3000000), k16M));
  EXPECT_FALSE(IsSegmentBoundary(Lsn(0x3000001), k16M));
  EXPECT_EQ(SegmentNumber(Lsn(0x3FFFFFF), k16M), 3u);
}

TEST(ParseWalFileNameTest, RoundTrips) {
  for (uint64_t size : {kMinSegmentSize, k16M, kMaxSegmentSize}) {
    for (uint64_t segno : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{4096},
                           uint64_t{123456}}) {
      auto seg = ParseWalFileName(SegmentFileName(7, segno, size), size);
      ASSERT_TRUE(seg.ok()) << seg.status();
      EXPECT_EQ(seg->kind, WalFileName::Kind::kSegment);
      EXPECT_EQ(seg->tli, 7u);
      EXPECT_EQ(seg->segno, segno);
      auto part = ParseWalFileName(PartialSegmentFileName(7, segno, size), size);
      ASSERT_TRUE(part.ok());
      EXPECT_EQ(part->kind, WalFileName::Kind::kPartial);
      EXPECT_EQ(part->segno, segno);
    }
  }
  auto hist = ParseWalFileName("0000000A.history", k16M);
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(hist->kind, WalFileName::Kind::kHistory);
  EXPECT_EQ(hist->tli, 10u);
}

TEST(ParseWalFileNameTest, RejectsOtherNames) {
  for (const char* name :
       {"", "00000001000000000000000", "0000000100000000000000031",
        "000000010000000000000003.tmp", "000000010000000000000003.partial.tmp",
        "00000001000000000000000a", "000000000000000000000003", "00000000.history",
        "0000000g.history", "xlogtemp.123", "000000010000000000000003.gz",
        "00000001.history.tmp", "archive_status"}) {
    EXPECT_EQ(ParseWalFileName(name, k16M).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  // Segment field beyond the number of segments per 4 GiB (256 at 16 MiB).
  EXPECT_FALSE(ParseWalFileName("000000010000000000000100", k16M).ok());
  EXPECT_TRUE(ParseWalFileName("000000010000000000000100", kMinSegmentSize).ok());
}

}  // namespace
}  // namespace walrep
