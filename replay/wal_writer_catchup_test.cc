// WalWriter while catching up (set_catching_up): sparse segments filled once caught up,
// the SegmentStage's aligned O_DIRECT blocks with nothing lost at a flush, its queued
// writes waited for by a compare and by the destructor, and a failed write that sticks.
#include <sys/stat.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"
#include "replay/wal_writer.h"
#include "replay/wal_writer_test_util.h"

namespace walrep::wal_writer_testing {
namespace {

// Bytes the file system has allocated (or reserved) for `path`.
int64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

TEST_F(WalWriterTest, CatchingUpCreatesSparseSegmentsAndCaughtUpFillsTheirRest) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  EXPECT_GE(AllocatedBytes(Partial(1, 1)), static_cast<int64_t>(kSeg));  // zero-filled
  w->set_catching_up(true);
  ASSERT_TRUE(AppendRange(*w, base, kSeg + 5000).ok());
  ASSERT_TRUE(w->Flush().ok());
  // Full size, reading as zeros past the write position, but only the written part
  // allocated.
  EXPECT_EQ(testing::SizeOf(Partial(1, 2)), static_cast<int64_t>(kSeg));
  EXPECT_LT(AllocatedBytes(Partial(1, 2)), static_cast<int64_t>(kSeg / 2));
  EXPECT_EQ(testing::ReadAll(Partial(1, 2)),
            Bytes(Lsn(2 * kSeg), 5000) + std::string(kSeg - 5000, '\0'));
  // Caught up: the next Flush fills the holes (nothing else changes), and new segments
  // are zero-filled again.
  w->set_catching_up(false);
  ASSERT_TRUE(AppendRange(*w, Lsn(2 * kSeg + 5000), 3000).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_GE(AllocatedBytes(Partial(1, 2)), static_cast<int64_t>(kSeg));
  EXPECT_EQ(testing::ReadAll(Partial(1, 2)),
            Bytes(Lsn(2 * kSeg), 8000) + std::string(kSeg - 8000, '\0'));
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(Lsn(2 * kSeg + 8000)));
  ASSERT_TRUE(AppendRange(*w, Lsn(2 * kSeg + 8000), kSeg - 8000 + 10).ok());
  EXPECT_GE(AllocatedBytes(Partial(1, 3)), static_cast<int64_t>(kSeg));
}

// Whether the file system under `dir` takes O_DIRECT (tmpfs before Linux 6.6 does not).
bool DirectIoWorks(const std::string& dir) {
  const std::string probe = dir + "/direct-probe";
  auto f = DefaultFileOps()->Open(probe, FileOps::OpenMode::kCreateTruncate);
  if (!f.ok()) return false;
  AlignedBuffer block(kDirectIoAlignment);
  const bool ok = (*f)->SetDirectIo(true).ok() &&
                  (*f)->WriteAt(0, absl::string_view(block.data(), block.size())).ok();
  (*f)->Close().IgnoreError();
  DefaultFileOps()->Remove(probe).IgnoreError();
  return ok;
}

// WAL re-sent while a full stage buffer is still queued for the stage's thread (its write
// held): the compare waits for that write instead of reading the file without it and
// calling the identical bytes a divergence.
TEST_F(WalWriterTest, ComparingCatchUpWalWaitsForTheStagesQueuedWrites) {
  FaultInjectingFileOps ops;
  WalWriter::Options o;
  o.dir = dir_.Join("wal");
  o.segment_size = kSeg;
  o.file_ops = &ops;
  o.stage_buffer = kSeg / 4;
  auto made = WalWriter::Create(std::move(o));
  ASSERT_TRUE(made.ok()) << made.status();
  auto& w = *made;
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  w->set_catching_up(true);
  ops.HoldNextWrite();
  const size_t n = kSeg / 4 + 5000;  // one full stage buffer and more, in an open segment
  ASSERT_TRUE(AppendRange(*w, base, n).ok());
  ASSERT_TRUE(ops.WaitUntilWriteHeld(absl::Seconds(30)));
  absl::Status compared;
  absl::Notification done;
  std::thread compare([&] {
    compared = w->CompareWritten(base + 100, Bytes(base + 100, n - 100));
    done.Notify();
  });
  // It cannot finish while the write is held (reading the file then would miss the held
  // buffer); once released it sees every byte.
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  ops.ReleaseWrite();
  compare.join();
  EXPECT_TRUE(compared.ok()) << compared;
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_TRUE(testing::ReadAll(Partial(1, 1)).substr(0, n) == Bytes(base, n));
}

TEST_F(WalWriterTest, CatchingUpWritesAlignedBlocksAndLosesNothingAtEachFlush) {
  auto w = Make();
  const Lsn base(kSeg);
  ASSERT_TRUE(w->StartAtSegment(1, base).ok());
  w->set_catching_up(true);
  // Uneven pieces across three segments, a Flush after some of them.
  const size_t pieces[] = {3, 131072, 8189, 700000, 1, 500000, 1048576, 77777, 12345};
  Lsn pos = base;
  int i = 0;
  for (size_t n : pieces) {
    ASSERT_TRUE(AppendRange(*w, pos, n).ok());
    pos = pos + n;
    EXPECT_EQ(w->write_lsn(), pos);
    if (++i % 2 == 0) {
      ASSERT_TRUE(w->Flush().ok());
      EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(pos));
      // The open segment holds every byte up to the write position, zeros after it up to
      // the block end (the rest is a hole reading as zeros).
      const uint64_t segno = SegmentNumber(pos, kSeg);
      const uint64_t off = pos.value() % kSeg;
      const std::string file = testing::ReadAll(Partial(1, segno));
      ASSERT_EQ(file.size(), kSeg);
      EXPECT_TRUE(file.substr(0, off) == Bytes(Lsn(segno * kSeg), off)) << "at " << pos.ToString();
      EXPECT_TRUE(file.substr(off) == std::string(kSeg - off, '\0')) << "at " << pos.ToString();
    }
  }
  // Re-sent WAL is compared with the staged bytes as well as the written ones.
  const Lsn back = pos.SegmentStart(kSeg) + 1000;
  EXPECT_TRUE(w->CompareWritten(back, Bytes(back, pos - back)).ok());
  std::string wrong = Bytes(back, pos - back);
  wrong.back() ^= 1;
  EXPECT_TRUE(absl::IsDataLoss(w->CompareWritten(back, wrong)));
  // Sealed segments are complete.
  EXPECT_TRUE(testing::ReadAll(Seg(1, 1)) == Bytes(Lsn(kSeg), kSeg));
  EXPECT_TRUE(testing::ReadAll(Seg(1, 2)) == Bytes(Lsn(2 * kSeg), kSeg));
  if (DirectIoWorks(dir_.path())) {
    EXPECT_GT(w->direct_bytes(), 2 * kSeg);
  }
  // Caught up: the stage ends at the next Flush; small appends go straight to the file.
  w->set_catching_up(false);
  ASSERT_TRUE(AppendRange(*w, pos, 100).ok());
  ASSERT_TRUE(w->Flush().ok());
  const uint64_t direct = w->direct_bytes();
  ASSERT_TRUE(AppendRange(*w, pos + 100, 100).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->direct_bytes(), direct);
  pos = pos + 200;
  EXPECT_EQ(w->flush_lsn(), EndAtOrBefore(pos));
  const uint64_t off = pos.value() % kSeg;
  EXPECT_TRUE(testing::ReadAll(Partial(1, SegmentNumber(pos, kSeg))).substr(0, off) ==
              Bytes(pos.SegmentStart(kSeg), off));
  ASSERT_TRUE(w->Close().ok());
}

TEST_F(WalWriterTest, DestroyedWhileCatchingUpWaitsForTheStagesWrites) {
  // Full buffers are queued to the stage's thread; destroying the writer without Close
  // (a crash path) must not leave that thread writing into a closed file (ASan run).
  auto w = Make();
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  w->set_catching_up(true);
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), kSeg - 100).ok());
  w.reset();
  // What a crash leaves: a full-size .partial.
  EXPECT_EQ(testing::SizeOf(Partial(1, 1)), static_cast<int64_t>(kSeg));
}

TEST_F(WalWriterTest, CatchingUpWriteFailureIsStickyAndFlushStays) {
  FaultInjectingFileOps ops;
  auto w = Make(WalWriter::Layout::kArchive, &ops);
  ASSERT_TRUE(w->StartAtSegment(1, Lsn(kSeg)).ok());
  w->set_catching_up(true);
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg), 300000).ok());
  ASSERT_TRUE(w->Flush().ok());
  const Lsn flushed = w->flush_lsn();
  ops.FailAfter(Op::kWrite, 0, EIO);
  ASSERT_TRUE(AppendRange(*w, Lsn(kSeg + 300000), 1000).ok());  // staged only
  absl::Status s = w->Flush();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(w->failed());
  EXPECT_EQ(w->flush_lsn(), flushed);
  EXPECT_FALSE(AppendRange(*w, Lsn(kSeg + 301000), 10).ok());
}

}  // namespace
}  // namespace walrep::wal_writer_testing
