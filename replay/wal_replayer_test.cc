#include "replay/wal_replayer.h"

#include "gtest/gtest.h"
#include "replay/replay_stats.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/wal_test_builder.h"
#include "replay/wal_writer.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

constexpr uint64_t kSeg = kMinSegmentSize;

// xact commit main data: xact_time, then (with XLOG_XACT_HAS_INFO) xinfo.
std::string Commit(int64_t pg_time_us, uint32_t xinfo) {
  std::string d(12, '\0');
  for (int i = 0; i < 8; ++i) d[i] = static_cast<char>((pg_time_us >> (8 * i)) & 0xFF);
  for (int i = 0; i < 4; ++i) d[8 + i] = static_cast<char>((xinfo >> (8 * i)) & 0xFF);
  return d;
}

class WalReplayerTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(nullptr); }
  // Writer and replayer over dir_/wal, sharing `recent` when not null.
  void Build(RecentWal* recent) {
    if (replayer_) replayer_->Stop();
    replayer_.reset();
    WalWriter::Options o;
    o.recent = recent;
    o.dir = dir_.Join("wal");
    o.segment_size = kSeg;
    o.on_flush = [this](Lsn l) {
      if (replayer_) replayer_->Wake(l);
    };
    writer_ = *WalWriter::Create(o);
    WalReplayer::Options r;
    r.dir = o.dir;
    r.segment_size = kSeg;
    r.durable = [this] { return writer_->flush_lsn(); };
    r.timeline = [this] { return writer_->timeline(); };
    r.handler = &stats_;
    r.recent = recent;
    r.tick = absl::Milliseconds(20);
    r.now = [this] { return now_; };
    replayer_ = std::make_unique<WalReplayer>(r);
  }
  void TearDown() override { replayer_->Stop(); }

  TempDir dir_;
  std::unique_ptr<WalWriter> writer_;
  ReplayStats stats_;
  std::unique_ptr<WalReplayer> replayer_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(WalReplayerTest, ReplaysEveryFlushedRecordAndAccountsForIt) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  for (int i = 0; b.end().value() < 3 * kSeg + 1000; ++i) b.Add(10, 0, 1, std::string(900, 'h'));
  const int64_t t = 123456789;
  b.Add(kRmgrXact, 0x00 | 0x80, 42, Commit(t, 1u << 29));     // commit, asks for feedback
  b.Add(kRmgrXact, 0x20, 43, Commit(t + 1, 0));                  // abort
  std::string rp(8 + 64, '\0');
  std::string name = "before_upgrade";
  std::copy(name.begin(), name.end(), rp.begin() + 8);
  b.Add(kRmgrXlog, 0x70, 0, rp);                                 // restore point
  ASSERT_TRUE(writer_->StartAtSegment(1, b.start()).ok());
  replayer_->ResetAtSegment(b.start());
  replayer_->Start();
  const std::string wal = b.PaddedToSegment();
  ASSERT_TRUE(writer_->Append(b.start(), wal.substr(0, b.end() - b.start())).ok());
  // Nothing is replayed past what is durable.
  EXPECT_FALSE(replayer_->WaitForApply(Lsn(kSeg + 1), absl::Milliseconds(100)));
  EXPECT_EQ(replayer_->apply_lsn(), b.start());
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(replayer_->WaitForApply(b.end(), absl::Seconds(30)));
  EXPECT_EQ(replayer_->apply_lsn(), writer_->flush_lsn());
  EXPECT_EQ(replayer_->lag(), absl::ZeroDuration());
  ReplaySnapshot s = stats_.Snapshot();
  EXPECT_EQ(s.commits, 1u);
  EXPECT_EQ(s.aborts, 1u);
  EXPECT_EQ(s.restore_points, 1u);
  EXPECT_EQ(s.last_restore_point, "before_upgrade");
  ASSERT_TRUE(s.last_xact_time.has_value());
  EXPECT_EQ(*s.last_xact_time, FromPostgresTimestamp(t + 1));
  EXPECT_GT(s.rmgr[10].records, 2000u);  // 2 MiB of ~930-byte records
  EXPECT_EQ(s.records, s.rmgr[10].records + 3);
  EXPECT_EQ(replayer_->feedback_requests(), 1u);
  EXPECT_TRUE(replayer_->failure().ok());
}

TEST_F(WalReplayerTest, ResetIfPastMovesApplyBackOnlyWhenReplayWentFurther) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  Lsn mid, mid_start;
  for (int i = 0; b.end().value() < kSeg + 200000; ++i) {
    const Lsn at = b.Add(10, 0, 1, std::string(300, 'r'));
    if (i == 100) {
      mid_start = at;
      mid = b.end();
    }
  }
  ASSERT_TRUE(writer_->StartAtSegment(1, b.start()).ok());
  replayer_->ResetAtSegment(b.start());
  replayer_->Start();
  ASSERT_TRUE(writer_->Append(b.start(), b.bytes()).ok());
  ASSERT_TRUE(writer_->Flush().ok());
  const Lsn flushed = writer_->flush_lsn();
  ASSERT_TRUE(replayer_->WaitForApply(flushed, absl::Seconds(30)));
  // At or above the apply position: nothing changes.
  EXPECT_FALSE(replayer_->ResetIfPast(flushed, Lsn()));
  EXPECT_EQ(replayer_->apply_lsn(), flushed);
  // Below it: apply is the given record end, and replay goes on from there.
  EXPECT_TRUE(replayer_->ResetIfPast(mid, mid_start));
  EXPECT_EQ(replayer_->apply_lsn(), mid);
  replayer_->Wake(flushed);
  ASSERT_TRUE(replayer_->WaitForApply(flushed, absl::Seconds(30)));
  EXPECT_TRUE(replayer_->failure().ok()) << replayer_->failure();
}

TEST_F(WalReplayerTest, LagIsTheAgeOfTheOldestUnreplayedFlushAndZeroWhenCaughtUp) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  b.Add(10, 0, 1, "one");
  ASSERT_TRUE(writer_->StartAtSegment(1, b.start()).ok());
  replayer_->ResetAtSegment(b.start());  // not started: nothing replays
  const std::string wal = b.PaddedToSegment();
  ASSERT_TRUE(writer_->Append(b.start(), wal.substr(0, b.end() - b.start())).ok());
  ASSERT_TRUE(writer_->Flush().ok());  // Wake records the flush at now_
  now_ += absl::Seconds(7);
  EXPECT_EQ(replayer_->lag(), absl::Seconds(7));
  replayer_->Start();
  ASSERT_TRUE(replayer_->WaitForApply(b.end(), absl::Seconds(30)));
  EXPECT_EQ(replayer_->lag(), absl::ZeroDuration());
  now_ += absl::Hours(5);  // idle: still no lag
  EXPECT_EQ(replayer_->lag(), absl::ZeroDuration());
}

TEST_F(WalReplayerTest, DamageBelowTheFlushPositionStopsReplayWithDataLoss) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  Lsn before, damaged;
  for (int i = 0; b.end().value() < kSeg + 200000; ++i) {
    Lsn at = b.Add(10, 0, 1, std::string(1000, 'd'));
    if (at.value() < kSeg + 100000) before = at;
    if (!damaged.valid() && at.value() >= kSeg + 100000) damaged = at;
  }
  ASSERT_TRUE(writer_->StartAtSegment(1, b.start()).ok());
  replayer_->ResetAtSegment(b.start());
  const std::string wal = b.PaddedToSegment();
  ASSERT_TRUE(writer_->Append(b.start(), wal.substr(0, b.end() - b.start())).ok());
  ASSERT_TRUE(writer_->Flush().ok());
  // The fsynced file is damaged before replay reads it.
  const std::string path = dir_.Join("wal/" + PartialSegmentFileName(1, 1, kSeg));
  std::string bytes = walrep::testing::ReadAll(path);
  bytes[damaged.value() - kSeg + 100] ^= 0x20;
  walrep::testing::WriteAll(path, bytes);
  replayer_->Start();
  EXPECT_FALSE(replayer_->WaitForApply(b.end(), absl::Seconds(30)));
  absl::Status f = replayer_->failure();
  EXPECT_EQ(f.code(), absl::StatusCode::kDataLoss) << f;
  EXPECT_NE(f.message().find(damaged.ToString()), std::string::npos) << f;
  EXPECT_EQ(replayer_->apply_lsn(), damaged);  // the end of the record before it
  EXPECT_LT(before, damaged);
}

// WAL damaged in its file after the fsync, for the ring tests below: `damaged` is the start
// of the record whose payload is flipped, about 100 KB into the segment.
struct DamagedWal {
  std::string path;
  Lsn end;
  Lsn damaged;
};
DamagedWal WriteAndDamage(WalWriter& writer, WalReplayer& replayer, const TempDir& dir) {
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  DamagedWal out;
  for (int i = 0; b.end().value() < kSeg + 200000; ++i) {
    Lsn at = b.Add(10, 0, 1, std::string(1000, 'r'));
    if (!out.damaged.valid() && at.value() >= kSeg + 100000) out.damaged = at;
  }
  out.end = b.end();
  EXPECT_TRUE(writer.StartAtSegment(1, b.start()).ok());
  replayer.ResetAtSegment(b.start());
  const std::string wal = b.PaddedToSegment();
  EXPECT_TRUE(writer.Append(b.start(), wal.substr(0, b.end() - b.start())).ok());
  EXPECT_TRUE(writer.Flush().ok());
  out.path = dir.Join("wal/" + PartialSegmentFileName(1, 1, kSeg));
  std::string bytes = walrep::testing::ReadAll(out.path);
  bytes[out.damaged.value() - kSeg + 100] ^= 0x20;
  walrep::testing::WriteAll(out.path, bytes);
  return out;
}

TEST_F(WalReplayerTest, NewWalIsReadFromTheWritersRingNotTheFiles) {
  RecentWal ring(size_t{4} << 20);
  Build(&ring);
  // The file is damaged after the writer took the bytes: replay reads the ring, which
  // holds what was written, so it never meets the damage.
  const DamagedWal w = WriteAndDamage(*writer_, *replayer_, dir_);
  replayer_->Start();
  ASSERT_TRUE(replayer_->WaitForApply(w.end, absl::Seconds(30)));
  EXPECT_TRUE(replayer_->failure().ok()) << replayer_->failure();
}

TEST_F(WalReplayerTest, WalOlderThanTheRingIsReadFromTheFilesAndVerified) {
  RecentWal ring(size_t{64} << 10);  // holds only the last 64 KiB
  Build(&ring);
  const DamagedWal w = WriteAndDamage(*writer_, *replayer_, dir_);
  replayer_->Start();
  EXPECT_FALSE(replayer_->WaitForApply(w.end, absl::Seconds(30)));
  absl::Status f = replayer_->failure();
  EXPECT_EQ(f.code(), absl::StatusCode::kDataLoss) << f;
  EXPECT_EQ(replayer_->apply_lsn(), w.damaged);
}

}  // namespace
}  // namespace walrep
