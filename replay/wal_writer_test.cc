#include "replay/wal_writer.h"

#include <cerrno>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"
#include "replay/wal_restart_point.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using Op = FaultInjectingFileOps::Op;
using walrep::testing::TempDir;

constexpr uint64_t kSeg = kMinSegmentSize;  // 1 MiB keeps the tests fast

// Deterministic WAL-like bytes: byte at LSN x is a function of x.
std::string Bytes(Lsn start, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = start.value() + i;
    out[i] = static_cast<char>((x * 131 + (x >> 20)) & 0xFF);
  }
  return out;
}

class WalWriterTest : public ::testing::Test {
 protected:
  std::unique_ptr<WalWriter> Make(WalWriter::Layout layout = WalWriter::Layout::kArchive,
                                  FileOps* ops = nullptr) {
    WalWriter::Options o;
    o.dir = dir_.Join("wal");
    o.segment_size = kSeg;
    o.layout = layout;
    o.file_ops = ops;
    o.on_flush = [this](Lsn l) { flushed_.push_back(l); };
    auto w = WalWriter::Create(std::move(o));
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  }
  std::string Wal(const std::string& name) const { return dir_.Join("wal/" + name); }
  std::string Seg(TimelineId tli, uint64_t segno) const {
    return Wal(SegmentFileName(tli, segno, kSeg));
  }
  std::string Partial(TimelineId tli, uint64_t segno) const {
    return Wal(PartialSegmentFileName(tli, segno, kSeg));
  }
  absl::Status AppendRange(WalWriter& w, Lsn start, size_t n) {
    return w.Append(start, Bytes(start, n));
  }

  TempDir dir_;
  std::vector<Lsn> flushed_;
};

TEST_F(WalWriterTest, CreateValidatesOptions) {
  WalWriter::Options o;
  o.dir = dir_.Join("wal");
  o.segment_size = 3 << 20;
  EXPECT_EQ(WalWriter::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.dir = "";
  o.segment_size = kSeg;
  EXPECT_EQ(WalWriter::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WalWriterTest, StartCreatesPaddedPartial) {
  auto w = Make();
  ASSERT_TRUE(w->Start(1, Lsn(3 * kSeg)).ok());
  EXPECT_EQ(testing::SizeOf(Partial(1, 3)), static_cast<int64_t>(kSeg));
  EXPECT_EQ(testing::ReadAll(Partial(1, 3)), std::string(kSeg, '\0'));
  EXPECT_EQ(w->write_lsn(), Lsn(3 * kSeg));
  EXPECT_EQ(w->flush_lsn(), Lsn(3 * kSeg));
  EXPECT_EQ(w->timeline(), 1u);
}

TEST_F(WalWriterTest, RejectsDiscontinuityWithoutWriting) {
  auto w = Make();
  const Lsn base(2 * kSeg);
  ASSERT_TRUE(w->Start(1, base).ok());
  ASSERT_TRUE(AppendRange(*w, base, 100).ok());
  absl::Status gap = AppendRange(*w, base + 101, 10);
  EXPECT_EQ(gap.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(gap.message(), HasSubstr((base + 101).ToString()));
  EXPECT_THAT(gap.message(), HasSubstr((base + 100).ToString()));
  EXPECT_EQ(AppendRange(*w, base + 50, 10).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(w->write_lsn(), base + 100);
  EXPECT_FALSE(w->failed());  // a bad chunk is the stream's fault, not the disk's
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(testing::ReadAll(Partial(1, 2)).substr(0, 101), Bytes(base, 100) + '\0');
}

TEST_F(WalWriterTest, AppendBeforeStartFails) {
  auto w = Make();
  EXPECT_EQ(AppendRange(*w, Lsn(0), 1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WalWriterTest, SplitsExactlyAtSegmentBoundariesAndSeals) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->Start(1, base).ok());
  // One chunk ending 10 bytes short of the boundary, one crossing it, one filling the
  // second segment exactly to its end.
  ASSERT_TRUE(AppendRange(*w, base, kSeg - 10).ok());
  EXPECT_TRUE(testing::Exists(Partial(1, 1)));
  ASSERT_TRUE(AppendRange(*w, base + (kSeg - 10), 20).ok());
  EXPECT_FALSE(testing::Exists(Partial(1, 1)));
  EXPECT_TRUE(testing::Exists(Seg(1, 1)));
  EXPECT_TRUE(testing::Exists(Partial(1, 2)));
  ASSERT_TRUE(AppendRange(*w, base + (kSeg + 10), kSeg - 10).ok());
  EXPECT_EQ(w->write_lsn(), Lsn(3 * kSeg));
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            (std::vector<std::string>{SegmentFileName(1, 1, kSeg), SegmentFileName(1, 2, kSeg)}));
  EXPECT_EQ(testing::ReadAll(Seg(1, 1)), Bytes(Lsn(kSeg), kSeg));
  EXPECT_EQ(testing::ReadAll(Seg(1, 2)), Bytes(Lsn(2 * kSeg), kSeg));
  // The next segment is only opened when its first byte arrives.
  ASSERT_TRUE(AppendRange(*w, Lsn(3 * kSeg), 1).ok());
  EXPECT_TRUE(testing::Exists(Partial(1, 3)));
}

TEST_F(WalWriterTest, OneAppendSpanningSeveralSegments) {
  auto w = Make();
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(0), 3 * kSeg + 5).ok());
  for (uint64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(testing::ReadAll(Seg(1, s)), Bytes(Lsn(s * kSeg), kSeg)) << s;
  }
  EXPECT_EQ(testing::ReadAll(Partial(1, 3)).substr(0, 5), Bytes(Lsn(3 * kSeg), 5));
}

TEST_F(WalWriterTest, FlushAdvancesFlushPositionOnlyAfterSync) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  const Lsn base(kSeg);
  ASSERT_TRUE(w->Start(1, base).ok());
  flushed_.clear();
  ASSERT_TRUE(AppendRange(*w, base, 1000).ok());
  EXPECT_EQ(w->write_lsn(), base + 1000);
  EXPECT_EQ(w->flush_lsn(), base);
  const int syncs = ops.calls(Op::kSync);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(ops.calls(Op::kSync), syncs + 1);
  EXPECT_EQ(w->flush_lsn(), base + 1000);
  EXPECT_EQ(flushed_, std::vector<Lsn>{base + 1000});
  // Nothing new: no callback.
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(flushed_.size(), 1u);
  // Sealed segments count as flushed at the next Flush (no open file to sync).
  ASSERT_TRUE(AppendRange(*w, base + 1000, kSeg - 1000).ok());
  EXPECT_EQ(w->flush_lsn(), base + 1000);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), Lsn(2 * kSeg));
}

TEST_F(WalWriterTest, WaitForFlushBeyondWakesOnFlush) {
  auto w = Make();
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  EXPECT_FALSE(w->WaitForFlushBeyond(Lsn(0), absl::Milliseconds(1)));
  ASSERT_TRUE(AppendRange(*w, Lsn(0), 10).ok());
  bool woke = false;
  std::thread waiter([&] { woke = w->WaitForFlushBeyond(Lsn(5), absl::Seconds(60)); });
  ASSERT_TRUE(w->Flush().ok());
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST_F(WalWriterTest, StickyFailureOnFsync) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(0), 100).ok());
  ASSERT_TRUE(w->Flush().ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(100), 100).ok());
  ops.FailAfter(Op::kSync, 0, EIO);
  absl::Status first = w->Flush();
  EXPECT_EQ(first.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(w->failure(), first);
  EXPECT_EQ(w->flush_lsn(), Lsn(100));
  // Even once the disk "recovers", the writer stays failed.
  ops.Clear();
  EXPECT_EQ(w->Flush(), first);
  EXPECT_EQ(AppendRange(*w, Lsn(200), 1), first);
  EXPECT_EQ(w->Start(1, Lsn(0)), first);
  EXPECT_EQ(w->SwitchTimeline(2, Lsn(200)), first);
  EXPECT_EQ(w->Close(), first);
  EXPECT_EQ(w->flush_lsn(), Lsn(100));
  EXPECT_FALSE(w->WaitForFlushBeyond(Lsn(100), absl::Seconds(60)));  // no hang
}

TEST_F(WalWriterTest, StickyFailureOnEnospcWrite) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ops.FailAfter(Op::kWrite, 0, ENOSPC);
  absl::Status s = AppendRange(*w, Lsn(0), 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("no space left on device"));
  EXPECT_THAT(s.message(), HasSubstr(PartialSegmentFileName(1, 0, kSeg)));
  EXPECT_EQ(w->Flush(), s);
  EXPECT_EQ(w->flush_lsn(), Lsn(0));
}

TEST_F(WalWriterTest, EnospcWhilePreSizingLeavesNoFile) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(0), kSeg - 1).ok());
  // The next segment's zero-fill hits a full disk.
  ops.FailAfter(Op::kWrite, 1, ENOSPC);
  absl::Status s = AppendRange(*w, Lsn(kSeg - 1), 2);
  EXPECT_THAT(s.message(), HasSubstr("no space left on device"));
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            std::vector<std::string>{SegmentFileName(1, 0, kSeg)});
}

TEST_F(WalWriterTest, StickyFailureOnRenameAtSeal) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ops.FailAfter(Op::kRename, 0, EIO);
  EXPECT_EQ(AppendRange(*w, Lsn(0), kSeg).code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(w->flush_lsn(), Lsn(0));
  EXPECT_TRUE(testing::Exists(Partial(1, 0)));
}

TEST_F(WalWriterTest, CloseKeepsPartialAndRestartContinuesIt) {
  const Lsn base(4 * kSeg);
  {
    auto w = Make();
    ASSERT_TRUE(w->Start(1, base).ok());
    ASSERT_TRUE(AppendRange(*w, base, 5000).ok());
    ASSERT_TRUE(w->Close().ok());
    EXPECT_EQ(w->flush_lsn(), base + 5000);
    EXPECT_EQ(AppendRange(*w, base + 5000, 1).code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(testing::SizeOf(Partial(1, 4)), static_cast<int64_t>(kSeg));
  auto w = Make();
  ASSERT_TRUE(w->Start(1, base + 5000).ok());
  ASSERT_TRUE(AppendRange(*w, base + 5000, kSeg - 5000).ok());
  EXPECT_EQ(testing::ReadAll(Seg(1, 4)), Bytes(base, kSeg));
}

TEST_F(WalWriterTest, MidSegmentStartNeedsAnExistingFullFile) {
  auto w = Make();
  EXPECT_EQ(w->Start(1, Lsn(kSeg + 10)).code(), absl::StatusCode::kFailedPrecondition);
  testing::WriteAll(Partial(1, 1), "short");
  EXPECT_EQ(w->Start(1, Lsn(kSeg + 10)).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(w->failed());
  // At the boundary a wrongly sized leftover is simply recreated.
  ASSERT_TRUE(w->Start(1, Lsn(kSeg)).ok());
  EXPECT_EQ(testing::SizeOf(Partial(1, 1)), static_cast<int64_t>(kSeg));
}

TEST_F(WalWriterTest, TimelineSwitchKeepsOldPartial) {
  auto w = Make();
  const Lsn switch_lsn(2 * kSeg + 3000);
  ASSERT_TRUE(w->Start(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), switch_lsn - Lsn(kSeg)).ok());
  EXPECT_EQ(w->SwitchTimeline(1, switch_lsn).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w->SwitchTimeline(2, Lsn(switch_lsn.value() - 1)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(w->SwitchTimeline(2, switch_lsn).ok());
  EXPECT_EQ(w->timeline(), 2u);
  EXPECT_EQ(w->write_lsn(), Lsn(2 * kSeg));
  // The old timeline's last segment stays .partial, with its bytes, next to the new one.
  EXPECT_EQ(testing::ReadAll(Partial(1, 2)).substr(0, 3000), Bytes(Lsn(2 * kSeg), 3000));
  EXPECT_TRUE(testing::Exists(Partial(2, 2)));
  // The caller re-streams the switch segment on the new timeline from its start.
  ASSERT_TRUE(AppendRange(*w, Lsn(2 * kSeg), kSeg).ok());
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            (std::vector<std::string>{SegmentFileName(1, 1, kSeg),
                                      PartialSegmentFileName(1, 2, kSeg),
                                      SegmentFileName(2, 2, kSeg)}));
  ASSERT_TRUE(w->WriteHistoryFile(2, "1\t0/203000\tno recovery target specified\n").ok());
  EXPECT_TRUE(testing::Exists(Wal("00000002.history")));
}

TEST_F(WalWriterTest, TimelineSwitchRejectsGapBeforeSwitchSegment) {
  auto w = Make();
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(0), 10).ok());
  EXPECT_EQ(w->SwitchTimeline(2, Lsn(3 * kSeg + 1)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(w->failed());
}

TEST_F(WalWriterTest, InPlaceLayoutUsesFinalNames) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kInPlace, &ops);
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  EXPECT_EQ(testing::SizeOf(Seg(1, 0)), static_cast<int64_t>(kSeg));
  ASSERT_TRUE(AppendRange(*w, Lsn(0), kSeg + 7).ok());
  const int renames = ops.calls(Op::kRename);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(ops.calls(Op::kRename), renames);
  EXPECT_EQ(w->flush_lsn(), Lsn(kSeg + 7));
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            (std::vector<std::string>{SegmentFileName(1, 0, kSeg), SegmentFileName(1, 1, kSeg)}));
  EXPECT_EQ(testing::ReadAll(Seg(1, 0)), Bytes(Lsn(0), kSeg));
  std::string second = testing::ReadAll(Seg(1, 1));
  EXPECT_EQ(second.size(), kSeg);
  EXPECT_EQ(second.substr(0, 7), Bytes(Lsn(kSeg), 7));
  EXPECT_EQ(second.substr(7), std::string(kSeg - 7, '\0'));
  ASSERT_TRUE(w->Close().ok());
  // A restart mid-segment continues the in-place file.
  auto again = Make(WalWriter::Layout::kInPlace);
  ASSERT_TRUE(again->Start(1, Lsn(kSeg + 7)).ok());
  ASSERT_TRUE(AppendRange(*again, Lsn(kSeg + 7), 3).ok());
  ASSERT_TRUE(again->Flush().ok());
  EXPECT_EQ(testing::ReadAll(Seg(1, 1)).substr(0, 10), Bytes(Lsn(kSeg), 10));
}

TEST_F(WalWriterTest, RestartPointAfterWriting) {
  auto w = Make();
  ASSERT_TRUE(w->Start(1, Lsn(0)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(0), 2 * kSeg + 100).ok());
  ASSERT_TRUE(w->Close().ok());
  auto rp = FindRestartPoint(dir_.Join("wal"), kSeg);
  ASSERT_TRUE(rp.ok());
  ASSERT_TRUE(rp->has_value());
  // The .partial of segment 2 is re-streamed from its start.
  EXPECT_EQ(**rp, (RestartPoint{1, Lsn(2 * kSeg)}));
}

}  // namespace
}  // namespace walrep
