#include "replay/wal_import.h"

#include <sys/stat.h>

#include "gtest/gtest.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/wal_recovery.h"
#include "replay/wal_test_builder.h"

namespace walrep {
namespace {

using walrep::testing::Exists;
using walrep::testing::List;
using walrep::testing::ReadAll;
using walrep::testing::TempDir;
using walrep::testing::WriteAll;

constexpr uint64_t kSeg = kMinSegmentSize;

class WalImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir(From().c_str(), 0700);
    mkdir(To().c_str(), 0700);
  }
  std::string From() const { return dir_.Join("pg_wal"); }
  std::string To() const { return dir_.Join("wal"); }
  // The builder's WAL as a backup's stream leaves it: final names, each file full size,
  // `wal` cut after `written` bytes (zeros after them, as the file was created).
  void WriteInPlace(const WalTestBuilder& b, uint64_t written) {
    std::string all = b.PaddedToSegment();
    std::fill(all.begin() + written, all.end(), '\0');
    const uint64_t first = b.start().value() / kSeg;
    for (uint64_t i = 0; i < all.size() / kSeg; ++i) {
      WriteAll(From() + "/" + SegmentFileName(1, first + i, kSeg), all.substr(i * kSeg, kSeg));
    }
  }
  ImportedWal Import() {
    auto r = ImportWalIntoArchive(From(), To(), kSeg, 0, DefaultFileOps());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ImportedWal();
  }
  RecoveredWal RecoverArchive() {
    auto r = RecoverWal(To(), kSeg, 0, DefaultFileOps());
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? **r : RecoveredWal();
  }
  TempDir dir_;
};

TEST_F(WalImportTest, CompleteSegmentsGetFinalNamesAndTheLastStaysPartial) {
  WalTestBuilder b({.segment_size = kSeg, .start = 2 * kSeg});
  while (b.end().value() < 4 * kSeg + 3000) b.Add(10, 0, 1, std::string(700, 'r'));
  WriteInPlace(b, b.bytes().size());
  ImportedWal got = Import();
  EXPECT_EQ(got.segments, 3);
  EXPECT_EQ(List(To()), (std::vector<std::string>{SegmentFileName(1, 2, kSeg),
                                                 SegmentFileName(1, 3, kSeg),
                                                 PartialSegmentFileName(1, 4, kSeg)}));
  EXPECT_EQ(ReadAll(To() + "/" + SegmentFileName(1, 3, kSeg)),
            ReadAll(From() + "/" + SegmentFileName(1, 3, kSeg)));
  // The archive's recovered end is the backup WAL's end: streaming continues there.
  RecoveredWal r = RecoverArchive();
  EXPECT_EQ(r.end, b.end());
  EXPECT_EQ(r.last_record, b.last_record());
}

TEST_F(WalImportTest, ASegmentEndedByASwitchWithItsPaddingIsComplete) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < kSeg + 5000) b.Add(10, 0, 1, std::string(300, 'r'));
  const Lsn sw = b.AddSwitch();
  WriteInPlace(b, b.bytes().size());
  Import();
  EXPECT_EQ(List(To()), (std::vector<std::string>{SegmentFileName(1, 1, kSeg)}));
  RecoveredWal r = RecoverArchive();
  EXPECT_EQ(r.end, Lsn(2 * kSeg));  // the next START_REPLICATION asks for segment 2
  EXPECT_EQ(r.last_record, sw);
}

TEST_F(WalImportTest, ASegmentEndedByASwitchWithZeroPaddingIsComplete) {
  // PostgreSQL 15 pads the rest of a switched segment with zeros, page headers included.
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < kSeg + 5000) b.Add(10, 0, 1, std::string(300, 'r'));
  const Lsn sw = b.AddSwitch();
  WriteInPlace(b, sw.value() - kSeg + 24);  // the switch record, then zeros
  Import();
  EXPECT_EQ(List(To()), (std::vector<std::string>{SegmentFileName(1, 1, kSeg)}));
  RecoveredWal r = RecoverArchive();
  EXPECT_EQ(r.end, Lsn(2 * kSeg));
  EXPECT_EQ(r.last_record, sw);
}

TEST_F(WalImportTest, HistoryFilesComeAlongAndPresentFilesAreKept) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < 2 * kSeg + 100) b.Add(10, 0, 1, std::string(500, 'r'));
  WriteInPlace(b, b.bytes().size());
  WriteAll(From() + "/00000002.history", "1\t0/F00000\tno recovery target specified\n");
  WriteAll(From() + "/archive_status", "");  // not WAL: ignored
  // An earlier import was interrupted after the first segment.
  WriteAll(To() + "/" + SegmentFileName(1, 1, kSeg),
           ReadAll(From() + "/" + SegmentFileName(1, 1, kSeg)));
  ImportedWal got = Import();
  EXPECT_EQ(got.segments, 1);
  EXPECT_EQ(got.history_files, 1);
  EXPECT_TRUE(Exists(To() + "/00000002.history"));
  EXPECT_TRUE(Exists(To() + "/" + PartialSegmentFileName(1, 2, kSeg)));
  EXPECT_FALSE(Exists(To() + "/archive_status"));
  EXPECT_EQ(RecoverArchive().end, b.end());
}

TEST_F(WalImportTest, NoWalIsNothingToDo) {
  ImportedWal got = Import();
  EXPECT_EQ(got.segments, 0);
  auto missing = ImportWalIntoArchive(dir_.Join("nowhere"), To(), kSeg, 0, DefaultFileOps());
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->segments, 0);
  EXPECT_TRUE(List(To()).empty());
}

}  // namespace
}  // namespace walrep
