#include "replay/wal_writer.h"

#include <cerrno>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"
#include "replay/wal_writer_test_util.h"

namespace walrep::wal_writer_testing {
namespace {

TEST_F(WalWriterTest, CreateValidatesOptions) {
  WalWriter::Options o;
  o.dir = dir_.Join("wal");
  o.segment_size = 3 << 20;
  EXPECT_EQ(WalWriter::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.dir = "";
  o.segment_size = kSeg;
  EXPECT_EQ(WalWriter::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.dir = dir_.Join("wal");
  for (size_t bad : {size_t{0}, size_t{1000}, size_t{3} << 12}) {
    o.stage_buffer = bad;  // not 4 KiB blocks, or not dividing a segment
    EXPECT_EQ(WalWriter::Create(o).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(WalWriterTest, CreateMakesTheDirectoryDurableInItsParent) {
  FaultInjectingFileOps ops;
  Make(WalWriter::Layout::kArchive, &ops);
  EXPECT_EQ(ops.calls(Op::kSyncDir), 1);
  Make(WalWriter::Layout::kArchive, &ops);  // it exists now: nothing to sync
  EXPECT_EQ(ops.calls(Op::kSyncDir), 1);
}

TEST_F(WalWriterTest, StartCreatesPaddedPartial) {
  auto w = Make();
  EXPECT_FALSE(w->positioned());
  EXPECT_EQ(w->StartAtSegment(1, Lsn(3 * kSeg + 8)).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(3 * kSeg)).ok());
  EXPECT_TRUE(w->positioned());
  EXPECT_EQ(testing::SizeOf(Partial(1, 3)), static_cast<int64_t>(kSeg));
  EXPECT_EQ(testing::ReadAll(Partial(1, 3)), std::string(kSeg, '\0'));
  EXPECT_EQ(w->write_lsn(), Lsn(3 * kSeg));
  EXPECT_EQ(w->flush_lsn(), Lsn(3 * kSeg));
  EXPECT_EQ(w->timeline(), 1u);
}

TEST_F(WalWriterTest, RejectsDiscontinuityWithoutWriting) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  ASSERT_TRUE(AppendRange(*w, base, 100).ok());
  absl::Status gap = AppendRange(*w, base + 101, 10);
  EXPECT_EQ(gap.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(gap.message(), HasSubstr((base + 101).ToString()));
  EXPECT_THAT(gap.message(), HasSubstr((base + 100).ToString()));
  EXPECT_EQ(AppendRange(*w, base + 50, 10).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(w->write_lsn(), base + 100);
  EXPECT_FALSE(w->failed());  // a bad chunk is the stream's fault, not the disk's
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(testing::ReadAll(Partial(1, 1)).substr(0, 101), Bytes(base, 100) + '\0');
}

TEST_F(WalWriterTest, BytesThatAreNotWalAreDataLossAndNotWritten) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  ASSERT_TRUE(AppendRange(*w, base, 5000).ok());
  std::string bad = Bytes(base + 5000, 40000);
  bad[9000] ^= 0x5A;  // corrupts a record that completes in this chunk
  absl::Status st = w->Append(base + 5000, bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_THAT(st.message(), HasSubstr("does not decode"));
  EXPECT_EQ(w->write_lsn(), base + 5000);
  EXPECT_FALSE(w->failed());
  // Until the session resumes, nothing more is taken.
  EXPECT_EQ(AppendRange(*w, base + 5000, 10).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(base + 5000));
  // A new session resumes at the durable record and the stream continues from there.
  ASSERT_TRUE(w->Resume().ok());
  EXPECT_EQ(w->write_lsn(), EndAtOrBefore(base + 5000));
  ASSERT_TRUE(AppendRange(*w, w->write_lsn(), 20000).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(w->write_lsn()));
}

TEST_F(WalWriterTest, AppendBeforeStartFails) {
  auto w = Make();
  EXPECT_EQ(AppendRange(*w, Lsn(kSeg), 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w->Resume().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WalWriterTest, SplitsExactlyAtSegmentBoundariesAndSeals) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
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
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), 3 * kSeg + 5).ok());
  for (uint64_t s = 1; s < 4; ++s) {
    EXPECT_EQ(testing::ReadAll(Seg(1, s)), Bytes(Lsn(s * kSeg), kSeg)) << s;
  }
  EXPECT_EQ(testing::ReadAll(Partial(1, 4)).substr(0, 5), Bytes(Lsn(4 * kSeg), 5));
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(Lsn(4 * kSeg + 5)));
}

TEST_F(WalWriterTest, FlushAdvancesToTheLastCompleteRecordOnlyAfterSync) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  const Lsn base(kSeg);
  EXPECT_FALSE(w->at_record_end());
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  flushed_.clear();
  ASSERT_TRUE(AppendRange(*w, base, 10000).ok());
  EXPECT_EQ(w->write_lsn(), base + 10000);
  EXPECT_EQ(w->flush_lsn(), base);
  // The segment boundary a fresh start begins at is no end of WAL (not a record's end).
  EXPECT_FALSE(w->at_record_end());
  const int syncs = ops.calls(Op::kSync);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(ops.calls(Op::kSync), syncs + 1);
  const Lsn first = EndAtOrBefore(base + 10000);
  ASSERT_LT(first, base + 10000);  // the cut is inside a record: it does not count
  EXPECT_EQ(w->flush_lsn(), first);
  EXPECT_EQ(w->last_record(), StartOf(first));
  EXPECT_TRUE(w->at_record_end());
  EXPECT_EQ(flushed_, std::vector<Lsn>{first});
  // Nothing new: no callback, and no second fdatasync for the same bytes (the stream
  // pausing mid-record is the normal state).
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(ops.calls(Op::kSync), syncs + 1);
  // Sealed segments count as flushed at the next Flush (no open file to sync).
  ASSERT_TRUE(AppendRange(*w, base + 10000, kSeg - 10000).ok());
  EXPECT_EQ(w->flush_lsn(), first);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(Lsn(2 * kSeg)));
}

TEST_F(WalWriterTest, WaitForFlushBeyondWakesOnFlush) {
  auto w = Make();
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  EXPECT_FALSE(w->WaitForFlushBeyond(Lsn(kSeg), absl::Milliseconds(1)));
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), 1000).ok());
  bool woke = false;
  std::thread waiter([&] { woke = w->WaitForFlushBeyond(Lsn(kSeg + 5), absl::Seconds(60)); });
  ASSERT_TRUE(w->Flush().ok());
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST_F(WalWriterTest, StickyFailureOnFsync) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  ASSERT_TRUE(AppendRange(*w, base, 3000).ok());
  ASSERT_TRUE(w->Flush().ok());
  const Lsn durable = w->flush_lsn();
  ASSERT_TRUE(AppendRange(*w, base + 3000, 3000).ok());
  ops.FailAfter(Op::kSync, 0, EIO);
  absl::Status first = w->Flush();
  EXPECT_EQ(first.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(w->failure(), first);
  EXPECT_EQ(w->flush_lsn(), durable);
  // Even once the disk "recovers", the writer stays failed.
  ops.Clear();
  EXPECT_EQ(w->Flush(), first);
  EXPECT_EQ(AppendRange(*w, base + 6000, 1), first);
  EXPECT_EQ(w->StartAtSegment(1, base), first);
  EXPECT_EQ(w->Resume(), first);
  EXPECT_EQ(w->SwitchTimeline(2, base + 6000), first);
  EXPECT_EQ(w->BeginTimeline(2, durable), first);
  EXPECT_EQ(w->Close(), first);
  EXPECT_EQ(w->flush_lsn(), durable);
  EXPECT_FALSE(w->WaitForFlushBeyond(durable, absl::Seconds(60)));  // no hang
}

TEST_F(WalWriterTest, StickyFailureOnEnospcWrite) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ops.FailAfter(Op::kWrite, 0, ENOSPC);
  absl::Status s = AppendRange(*w, Lsn(kSeg), 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("no space left on device"));
  EXPECT_THAT(s.message(), HasSubstr(PartialSegmentFileName(1, 1, kSeg)));
  EXPECT_EQ(w->Flush(), s);
  EXPECT_EQ(w->flush_lsn(), Lsn(kSeg));
}

TEST_F(WalWriterTest, EnospcWhilePreSizingLeavesNoFile) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), kSeg - 1).ok());
  // The next segment's zero-fill hits a full disk.
  ops.FailAfter(Op::kWrite, 1, ENOSPC);
  absl::Status s = AppendRange(*w, Lsn(2 * kSeg - 1), 2);
  EXPECT_THAT(s.message(), HasSubstr("no space left on device"));
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            std::vector<std::string>{SegmentFileName(1, 1, kSeg)});
}

TEST_F(WalWriterTest, StickyFailureOnRenameAtSeal) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ops.FailAfter(Op::kRename, 0, EIO);
  EXPECT_EQ(AppendRange(*w, Lsn(kSeg), kSeg).code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(w->flush_lsn(), Lsn(kSeg));
  EXPECT_TRUE(testing::Exists(Partial(1, 1)));
}

TEST_F(WalWriterTest, CloseKeepsPartialAndRestartContinuesItAtTheRecord) {
  const Lsn base(4 * kSeg);
  const Lsn start(3 * kSeg);
  Lsn durable;
  {
    auto w = Make();
    ASSERT_TRUE(w->StartAtSegment(1, start).ok());
    ASSERT_TRUE(AppendRange(*w, start, base + 5000 - start).ok());
    ASSERT_TRUE(w->Close().ok());
    durable = w->flush_lsn();
    EXPECT_EQ(durable, EndAtOrBefore(base + 5000));
    EXPECT_EQ(AppendRange(*w, base + 5000, 1).code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(testing::SizeOf(Partial(1, 4)), static_cast<int64_t>(kSeg));
  auto w = Make();
  ASSERT_TRUE(w->StartAtRecord(1, durable, StartOf(durable)).ok());
  ASSERT_TRUE(AppendRange(*w, durable, 5 * kSeg - durable.value()).ok());
  EXPECT_EQ(testing::ReadAll(Seg(1, 4)), Bytes(base, kSeg));
}

TEST_F(WalWriterTest, RestartInsideASealedSegmentContinuesItsFinalFile) {
  // A record crossing from segment 1 into 2: segment 1 was sealed, the crash cut the
  // record in segment 2, so recovery's end of WAL lies in the sealed segment 1.
  const Lsn end = EndAtOrBefore(Lsn(2 * kSeg));
  ASSERT_LT(end, Lsn(2 * kSeg));
  {
    auto w = Make();
    ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
    ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), kSeg + 3).ok());
    ASSERT_TRUE(w->Close().ok());
  }
  auto w = Make();
  ASSERT_TRUE(w->StartAtRecord(1, end, StartOf(end)).ok());
  ASSERT_TRUE(AppendRange(*w, end, 3 * kSeg - end.value()).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(testing::ReadAll(Seg(1, 1)), Bytes(Lsn(kSeg), kSeg));
  EXPECT_EQ(testing::ReadAll(Seg(1, 2)), Bytes(Lsn(2 * kSeg), kSeg));
  EXPECT_FALSE(testing::Exists(Partial(1, 1)));
}

TEST_F(WalWriterTest, MidSegmentStartNeedsAnExistingFullFile) {
  auto w = Make();
  const Lsn rec = EndAtOrBefore(Lsn(kSeg + 5000));
  EXPECT_EQ(w->StartAtRecord(1, rec, Lsn()).code(), absl::StatusCode::kFailedPrecondition);
  testing::WriteAll(Partial(1, 1), "short");
  EXPECT_EQ(w->StartAtRecord(1, rec, Lsn()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(w->StartAtRecord(1, rec + 3, Lsn()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(w->failed());
  // At the boundary a wrongly sized leftover is simply recreated.
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  EXPECT_EQ(testing::SizeOf(Partial(1, 1)), static_cast<int64_t>(kSeg));
}

TEST_F(WalWriterTest, TimelineSwitchCopiesTheParentsBytesIntoTheNewSegment) {
  auto w = Make();
  const Lsn switch_lsn = EndAtOrBefore(Lsn(2 * kSeg + 30000));
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), switch_lsn - Lsn(kSeg)).ok());
  EXPECT_EQ(w->SwitchTimeline(1, switch_lsn).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(w->SwitchTimeline(2, switch_lsn).ok());
  EXPECT_EQ(w->timeline(), 2u);
  EXPECT_EQ(w->write_lsn(), switch_lsn);
  EXPECT_EQ(w->flush_lsn(), switch_lsn);
  // The old timeline's last segment stays .partial, with its bytes; the new one holds
  // them too, before the stream goes on there.
  const uint64_t off = switch_lsn.value() - 2 * kSeg;
  EXPECT_EQ(testing::ReadAll(Partial(1, 2)).substr(0, off), Bytes(Lsn(2 * kSeg), off));
  std::string fresh = testing::ReadAll(Partial(2, 2));
  EXPECT_EQ(fresh.substr(0, off), Bytes(Lsn(2 * kSeg), off));
  EXPECT_EQ(fresh.substr(off), std::string(kSeg - off, '\0'));
  ASSERT_TRUE(AppendRange(*w, switch_lsn, 3 * kSeg - switch_lsn.value()).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            (std::vector<std::string>{SegmentFileName(1, 1, kSeg),
                                      PartialSegmentFileName(1, 2, kSeg),
                                      SegmentFileName(2, 2, kSeg)}));
  EXPECT_EQ(testing::ReadAll(Seg(2, 2)), Bytes(Lsn(2 * kSeg), kSeg));
  ASSERT_TRUE(w->WriteHistoryFile(2, "1\t0/203000\tno recovery target specified\n").ok());
  EXPECT_TRUE(testing::Exists(Wal("00000002.history")));
}

TEST_F(WalWriterTest, BeginTimelineIsAtomicUnderAFailedFsync) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  const Lsn at = EndAtOrBefore(Lsn(kSeg + 50000));
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), at - Lsn(kSeg)).ok());
  ASSERT_TRUE(w->Flush().ok());
  ops.FailAfter(Op::kSync, 1, EIO);  // the copy's fsync (the first is the parent's)
  EXPECT_EQ(w->BeginTimeline(2, at).code(), absl::StatusCode::kInternal);
  // No file under the new timeline's name: recovery cannot read a half-copied prefix.
  EXPECT_FALSE(testing::Exists(Partial(2, 1)));
  EXPECT_EQ(w->flush_lsn(), at);
}

TEST_F(WalWriterTest, TimelineSwitchRejectsGapBeforeSwitchSegment) {
  auto w = Make();
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), 10).ok());
  EXPECT_EQ(w->SwitchTimeline(2, Lsn(3 * kSeg + 8)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(w->failed());
}

TEST_F(WalWriterTest, InPlaceLayoutUsesFinalNames) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kInPlace, &ops);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  EXPECT_EQ(testing::SizeOf(Seg(1, 1)), static_cast<int64_t>(kSeg));
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), kSeg + 7).ok());
  const int renames = ops.calls(Op::kRename);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(ops.calls(Op::kRename), renames);
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(Lsn(2 * kSeg + 7)));
  EXPECT_EQ(testing::List(dir_.Join("wal")),
            (std::vector<std::string>{SegmentFileName(1, 1, kSeg), SegmentFileName(1, 2, kSeg)}));
  EXPECT_EQ(testing::ReadAll(Seg(1, 1)), Bytes(Lsn(kSeg), kSeg));
  std::string second = testing::ReadAll(Seg(1, 2));
  EXPECT_EQ(second.size(), kSeg);
  EXPECT_EQ(second.substr(0, 7), Bytes(Lsn(2 * kSeg), 7));
  EXPECT_EQ(second.substr(7), std::string(kSeg - 7, '\0'));
  const Lsn durable = w->flush_lsn();
  ASSERT_TRUE(w->Close().ok());
  // A restart continues the in-place file at the durable record.
  auto again = Make(WalWriter::Layout::kInPlace);
  ASSERT_TRUE(again->StartAtRecord(1, durable, StartOf(durable)).ok());
  ASSERT_TRUE(AppendRange(*again, durable, 2 * kSeg + 10000 - durable.value()).ok());
  ASSERT_TRUE(again->Flush().ok());
  EXPECT_EQ(testing::ReadAll(Seg(1, 2)).substr(0, 10000), Bytes(Lsn(2 * kSeg), 10000));
}

TEST_F(WalWriterTest, RestartAtASegmentBoundarySealsTheCompletedPartial) {
  // The last process fsynced a complete segment and stopped before its rename; the
  // record that ends it ends exactly at the boundary (a switch's padding, say).
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  b.Add(10, 0, 1, "x");
  const Lsn sw = b.AddSwitch();
  const std::string seg = b.PaddedToSegment();
  ASSERT_EQ(seg.size(), kSeg);
  auto w = Make();  // creates the WAL directory
  testing::WriteAll(Partial(1, 1), seg);
  ASSERT_TRUE(testing::Exists(Partial(1, 1)));
  ASSERT_TRUE(w->StartAtRecord(1, Lsn(2 * kSeg), sw).ok());
  EXPECT_FALSE(testing::Exists(Partial(1, 1)));
  EXPECT_TRUE(testing::ReadAll(Seg(1, 1)) == seg);
  EXPECT_TRUE(testing::Exists(Partial(1, 2)));
}

TEST_F(WalWriterTest, AForkBelowTheDurablePositionIsFollowedAndTheOldTimelineKept) {
  // The new primary was promoted from behind us: its timeline left ours at `fork`, and
  // we hold (durably) timeline 1's WAL up to two segments further.
  auto w = Make();
  const Lsn fork = EndAtOrBefore(Lsn(2 * kSeg + 30000));
  const Lsn ahead = EndAtOrBefore(Lsn(4 * kSeg + 1000));
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), ahead - Lsn(kSeg)).ok());
  ASSERT_TRUE(w->Flush().ok());
  ASSERT_EQ(w->flush_lsn(), ahead);
  const std::string old_partial = testing::ReadAll(Partial(1, 4));
  ASSERT_TRUE(w->SwitchTimeline(2, fork).ok());
  EXPECT_EQ(w->timeline(), 2u);
  EXPECT_EQ(w->write_lsn(), fork);
  EXPECT_EQ(w->flush_lsn(), fork);  // never past the fork on the new timeline
  // Timeline 1's files are untouched, its WAL past the fork included.
  EXPECT_TRUE(testing::ReadAll(Seg(1, 1)) == Bytes(Lsn(kSeg), kSeg));
  EXPECT_TRUE(testing::ReadAll(Seg(1, 2)) == Bytes(Lsn(2 * kSeg), kSeg));
  EXPECT_TRUE(testing::ReadAll(Partial(1, 4)) == old_partial);
  // Timeline 2's switch segment holds the common WAL up to the fork, and nothing else.
  const uint64_t off = fork.value() - 2 * kSeg;
  std::string fresh = testing::ReadAll(Partial(2, 2));
  EXPECT_TRUE(fresh.substr(0, off) == Bytes(Lsn(2 * kSeg), off));
  EXPECT_TRUE(fresh.substr(off) == std::string(kSeg - off, '\0'));
  // The new timeline's WAL (here the same builder's bytes) is taken from the fork on.
  ASSERT_TRUE(AppendRange(*w, fork, 20000).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(fork + 20000));
}

}  // namespace
}  // namespace walrep::wal_writer_testing
