// ReplayStats: counts become visible at Publish (the replay loop's publication points),
// and successive publications add up.
#include "replay/replay_stats.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

constexpr uint8_t kHeap = 10;   // RM_HEAP_ID
constexpr uint8_t kBtree = 11;  // RM_BTREE_ID

WalRecord Record(uint8_t rmid, uint32_t tot_len, int images, uint32_t image_len) {
  WalRecord r;
  r.rmid = rmid;
  r.tot_len = tot_len;
  for (int i = 0; i < images + 1; ++i) {
    WalBlockRef b;
    b.has_image = i < images;
    r.blocks.push_back(b);
  }
  r.fpi_len = images * image_len;
  return r;
}

TEST(ReplayStatsTest, AppliedRecordsAreShownFromThePublicationOn) {
  ReplayStats stats;
  ASSERT_TRUE(stats.Apply(Record(kHeap, 100, 0, 0)).ok());
  ASSERT_TRUE(stats.Apply(Record(kHeap, 8300, 1, 8192)).ok());
  EXPECT_EQ(stats.Snapshot().records, 0u);  // not published yet
  stats.Publish();
  ReplaySnapshot s = stats.Snapshot();
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.bytes, 8400u);
  EXPECT_EQ(s.fpis, 1u);
  EXPECT_EQ(s.fpi_bytes, 8192u);
  EXPECT_EQ(s.rmgr[kHeap].records, 2u);
  EXPECT_EQ(s.rmgr[kHeap].fpis, 1u);

  ASSERT_TRUE(stats.Apply(Record(kBtree, 64, 2, 100)).ok());
  stats.Publish();
  stats.Publish();  // nothing new: nothing added twice
  s = stats.Snapshot();
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.bytes, 8464u);
  EXPECT_EQ(s.fpis, 3u);
  EXPECT_EQ(s.fpi_bytes, 8392u);
  EXPECT_EQ(s.rmgr[kHeap].records, 2u);
  EXPECT_EQ(s.rmgr[kBtree].records, 1u);
  EXPECT_EQ(s.rmgr[kBtree].fpis, 2u);
  EXPECT_EQ(s.commits, 0u);
  EXPECT_FALSE(s.last_xact_time.has_value());
}

}  // namespace
}  // namespace walrep
