#include "replay/wal_recovery.h"

#include <sys/stat.h>

#include "gtest/gtest.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/timeline_history.h"
#include "replay/wal_test_builder.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

constexpr uint64_t kSeg = kMinSegmentSize;

class WalRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { mkdir(dir_.Join("wal").c_str(), 0700); }
  std::string Wal() const { return dir_.Join("wal"); }
  // Writes the builder's WAL as segment files (the last one `.partial` when `partial`),
  // each padded to the segment size.
  void WriteSegments(const WalTestBuilder& b, uint32_t tli, bool last_partial,
                     uint64_t from_seg = 0) {
    std::string all = b.PaddedToSegment();
    const uint64_t first = b.start().value() / kSeg;
    const uint64_t n = all.size() / kSeg;
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t segno = first + i;
      if (segno < from_seg) continue;
      const bool partial = last_partial && i + 1 == n;
      std::string name = partial ? PartialSegmentFileName(tli, segno, kSeg)
                                 : SegmentFileName(tli, segno, kSeg);
      walrep::testing::WriteAll(Wal() + "/" + name, all.substr(i * kSeg, kSeg));
    }
  }
  RecoveredWal Recover(uint64_t sysid = 0) {
    auto r = RecoverWal(Wal(), kSeg, sysid, DefaultFileOps());
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->has_value());
    return r.ok() && r->has_value() ? **r : RecoveredWal();
  }
  TempDir dir_;
};

TEST_F(WalRecoveryTest, NoSegmentsIsNothing) {
  auto r = RecoverWal(Wal(), kSeg, 0, DefaultFileOps());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  walrep::testing::WriteAll(Wal() + "/00000002.history", "1\t0/100000\tx\n");
  walrep::testing::WriteAll(Wal() + "/unrelated", "x");
  r = RecoverWal(Wal(), kSeg, 0, DefaultFileOps());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  auto missing = RecoverWal(dir_.Join("nowhere"), kSeg, 0, DefaultFileOps());
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(WalRecoveryTest, EndIsTheLastCompleteRecordAcrossSegments) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  Lsn last;
  while (b.end().value() < 3 * kSeg + 5000) last = b.Add(10, 0, 1, std::string(700, 'r'));
  WriteSegments(b, 1, /*last_partial=*/true);
  RecoveredWal r = Recover();
  EXPECT_EQ(r.end, b.end());
  EXPECT_EQ(r.last_record, last);
  EXPECT_EQ(r.tli, 1u);
  EXPECT_EQ(r.end_reason, WalStop::kEndOfWal);
  EXPECT_EQ(r.scan_start, Lsn(2 * kSeg));  // the segment before the newest
  EXPECT_FALSE(r.corruption.has_value());
  EXPECT_EQ(r.system_id, WalTestBuilder::Options().system_id);
}

TEST_F(WalRecoveryTest, ATornTailEndsTheWalBeforeTheTornRecord) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < kSeg + 40000) b.Add(10, 0, 1, std::string(700, 'r'));
  Lsn torn = b.Add(10, 0, 2, std::string(5000, 't'));
  std::string wal = b.PaddedToSegment();
  // Half of the last record reached the disk.
  std::fill(wal.begin() + (torn.value() - kSeg) + 2500, wal.end(), '\0');
  walrep::testing::WriteAll(Wal() + "/" + PartialSegmentFileName(1, 1, kSeg), wal);
  RecoveredWal r = Recover();
  EXPECT_EQ(r.end, torn);
  EXPECT_FALSE(r.corruption.has_value());
}

TEST_F(WalRecoveryTest, DamageInASealedSegmentIsCorruptionAndTheEndLiesBeyond) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < 2 * kSeg + 30000) b.Add(10, 0, 1, std::string(700, 'r'));
  WriteSegments(b, 1, /*last_partial=*/true);
  const std::string sealed = Wal() + "/" + SegmentFileName(1, 1, kSeg);
  std::string bytes = walrep::testing::ReadAll(sealed);
  bytes[500000] ^= 0x01;
  walrep::testing::WriteAll(sealed, bytes);
  RecoveredWal r = Recover();
  ASSERT_TRUE(r.corruption.has_value());
  EXPECT_LT(r.corruption->good_end, Lsn(kSeg + 500000));
  EXPECT_LE(r.corruption->at, Lsn(kSeg + 500000));
  EXPECT_NE(r.corruption->message.find(SegmentFileName(1, 1, kSeg)), std::string::npos);
  EXPECT_EQ(r.end, b.end());  // the damage does not lower the durable position
}

TEST_F(WalRecoveryTest, SystemIdentifierMismatchIsTheEnd) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  b.Add(10, 0, 1, "x");
  WriteSegments(b, 1, true);
  RecoveredWal r = Recover(/*sysid=*/12345);
  EXPECT_EQ(r.end_reason, WalStop::kBadPageHeader);
  EXPECT_EQ(r.end, Lsn(kSeg));
  EXPECT_FALSE(r.last_record.valid());
}

TEST_F(WalRecoveryTest, NewTimelinesFileHoldsTheSwitchPointPrefix) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < 2 * kSeg + 20000) b.Add(10, 0, 1, std::string(900, 'p'));
  const Lsn sw = b.end();
  WriteSegments(b, 1, true);
  // Timeline 2's copy of the switch segment: timeline 1's bytes up to the switch point.
  std::string seg2 = b.PaddedToSegment().substr(kSeg, kSeg);
  std::fill(seg2.begin() + (sw.value() - 2 * kSeg), seg2.end(), '\0');
  walrep::testing::WriteAll(Wal() + "/" + PartialSegmentFileName(2, 2, kSeg), seg2);
  walrep::testing::WriteAll(Wal() + "/00000002.history", "1\t" + sw.ToString() + "\tpromoted\n");
  RecoveredWal r = Recover();
  EXPECT_EQ(r.end, sw);
  EXPECT_EQ(r.tli, 2u);
}

TEST_F(WalRecoveryTest, ARecordLargerThanASegmentIsVerifiedFromItsStart) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  b.Add(10, 0, 1, "before");
  Lsn big = b.Add(10, 0, 2, std::string(2 * kSeg + 1000, 'B'));  // segments 1..3
  Lsn after = b.Add(10, 0, 3, "after");
  WriteSegments(b, 1, true);
  RecoveredWal r = Recover();
  EXPECT_EQ(r.last_record, after);
  EXPECT_EQ(r.end, b.end());
  EXPECT_EQ(r.scan_start, Lsn(kSeg));  // went back to where the big record starts
  EXPECT_LT(big, Lsn(2 * kSeg));
}

TEST_F(WalRecoveryTest, ANewestSegmentOfZerosEndsAtItsStart) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < 2 * kSeg) b.Add(10, 0, 1, std::string(500, 'q'));
  Lsn crossing_end = b.end();
  WriteSegments(b, 1, /*last_partial=*/false);
  // The next segment was created (zero-filled) but nothing in it reached the disk.
  const uint64_t last_seg = (b.end().value() - 1) / kSeg;
  const std::string path = Wal() + "/" + SegmentFileName(1, last_seg, kSeg);
  // Make the newest file a .partial of zeros (the crossing record is torn).
  std::rename(path.c_str(), (Wal() + "/" + PartialSegmentFileName(1, last_seg, kSeg)).c_str());
  walrep::testing::WriteAll(Wal() + "/" + PartialSegmentFileName(1, last_seg, kSeg),
                            std::string(kSeg, '\0'));
  RecoveredWal r = Recover();
  EXPECT_LT(r.end, Lsn(last_seg * kSeg));
  EXPECT_LT(r.end, crossing_end);
  EXPECT_FALSE(r.corruption.has_value());
}

TEST_F(WalRecoveryTest, AnXlogSwitchInAPartialEndsTheWalBeforeIt) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < kSeg + 40000) b.Add(10, 0, 1, std::string(700, 'r'));
  const Lsn before = b.end();
  const Lsn prev = b.last_record();
  const Lsn sw = b.AddSwitch();
  ASSERT_EQ(b.end(), Lsn(2 * kSeg));
  std::string wal = b.PaddedToSegment();
  // The switch record reached the disk; the page headers of the padding after it did
  // not (the zeros the file was created with): the writer never reported the switch.
  const uint64_t next_page = (sw.value() - kSeg) / kWalPageSize * kWalPageSize + kWalPageSize;
  std::fill(wal.begin() + next_page, wal.end(), '\0');
  const std::string partial = Wal() + "/" + PartialSegmentFileName(1, 1, kSeg);
  walrep::testing::WriteAll(partial, wal);
  RecoveredWal r = Recover();
  EXPECT_EQ(r.end, before);
  EXPECT_EQ(r.last_record, prev);
  EXPECT_FALSE(r.corruption.has_value());
  // Sealed, the segment was fsynced whole before its rename: the switch counts.
  std::rename(partial.c_str(), (Wal() + "/" + SegmentFileName(1, 1, kSeg)).c_str());
  r = Recover();
  EXPECT_EQ(r.end, Lsn(2 * kSeg));
  EXPECT_EQ(r.last_record, sw);
}

}  // namespace
}  // namespace walrep

namespace walrep {
namespace {

class WalRecoveryInPlaceTest : public WalRecoveryTest {};

TEST_F(WalRecoveryInPlaceTest, TheZeroTailOfTheNewestFinalNamedSegmentIsTheEndNotDamage) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  Lsn last;
  while (b.end().value() < 2 * kSeg + 5000) last = b.Add(10, 0, 1, std::string(700, 'r'));
  WriteSegments(b, 1, /*last_partial=*/false);  // a standby's pg_wal: final names only
  // Recycled by the server at a restartpoint: segment 1's pages under a future name.
  walrep::testing::WriteAll(Wal() + "/" + SegmentFileName(1, 5, kSeg),
                            b.PaddedToSegment().substr(0, kSeg));
  auto r = RecoverWal(Wal(), kSeg, 0, DefaultFileOps(), /*in_place=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->end, b.end());
  EXPECT_EQ((*r)->last_record, last);
  EXPECT_FALSE((*r)->corruption.has_value());
  EXPECT_EQ((*r)->scan_start, Lsn(kSeg));  // the recycled file is not the newest segment
  // The archive layout would call the same zero tail damage in a sealed segment.
  auto archive = RecoverWal(Wal(), kSeg, 0, DefaultFileOps());
  ASSERT_TRUE(archive.ok());
  EXPECT_TRUE((*archive)->corruption.has_value());
}

}  // namespace
}  // namespace walrep
