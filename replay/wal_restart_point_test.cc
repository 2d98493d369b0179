#include "replay/wal_restart_point.h"

#include "gtest/gtest.h"
#include "replay/segment.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

constexpr uint64_t kSeg = kMinSegmentSize;

class RestartPointTest : public ::testing::Test {
 protected:
  void Put(const std::string& name, uint64_t size = kSeg) {
    testing::WriteAll(dir_.Join(name), std::string(size, '\0'));
  }
  std::optional<RestartPoint> Find() {
    auto rp = FindRestartPoint(dir_.path(), kSeg);
    EXPECT_TRUE(rp.ok()) << rp.status();
    return rp.ok() ? *rp : std::nullopt;
  }
  TempDir dir_;
};

TEST_F(RestartPointTest, EmptyOrMissingDirectory) {
  EXPECT_FALSE(Find().has_value());
  auto missing = FindRestartPoint(dir_.Join("nope"), kSeg);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_FALSE(FindRestartPoint(dir_.path(), 12345).ok());
}

TEST_F(RestartPointTest, CompleteSegmentResumesAtNext) {
  Put(SegmentFileName(1, 3, kSeg));
  Put(SegmentFileName(1, 4, kSeg));
  Put("00000002.history", 40);
  EXPECT_EQ(Find(), (RestartPoint{1, Lsn(5 * kSeg)}));
}

TEST_F(RestartPointTest, PartialResumesAtItsStart) {
  Put(SegmentFileName(1, 4, kSeg));
  Put(PartialSegmentFileName(1, 5, kSeg));
  EXPECT_EQ(Find(), (RestartPoint{1, Lsn(5 * kSeg)}));
}

TEST_F(RestartPointTest, CompletePreferredOverPartialOfSameName) {
  Put(SegmentFileName(1, 5, kSeg));
  Put(PartialSegmentFileName(1, 5, kSeg));
  EXPECT_EQ(Find(), (RestartPoint{1, Lsn(6 * kSeg)}));
}

TEST_F(RestartPointTest, HighestTimelineWinsForSameSegment) {
  Put(PartialSegmentFileName(1, 5, kSeg));
  Put(PartialSegmentFileName(2, 5, kSeg));
  Put(SegmentFileName(1, 4, kSeg));
  EXPECT_EQ(Find(), (RestartPoint{2, Lsn(5 * kSeg)}));
}

TEST_F(RestartPointTest, HighestSegmentWinsOverTimeline) {
  Put(SegmentFileName(3, 2, kSeg));
  Put(SegmentFileName(2, 7, kSeg));
  EXPECT_EQ(Find(), (RestartPoint{2, Lsn(8 * kSeg)}));
}

TEST_F(RestartPointTest, SkipsWrongSizesAndForeignFiles) {
  Put(SegmentFileName(1, 2, kSeg));
  Put(SegmentFileName(1, 9, kSeg), kSeg - 1);
  Put(PartialSegmentFileName(1, 10, kSeg), 0);
  Put(SegmentFileName(1, 11, kSeg) + ".tmp");
  Put("README", 3);
  EXPECT_EQ(Find(), (RestartPoint{1, Lsn(3 * kSeg)}));
}

}  // namespace
}  // namespace walrep
