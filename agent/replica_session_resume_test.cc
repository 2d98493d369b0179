// ReplicaSession across sessions, against a scripted fake primary: where the next session
// starts and what it does with the WAL the primary sends again. Re-sent bytes are
// compared with the stored ones (a difference is DIVERGED, nothing rewritten); a
// connection cut right after a segment boundary resumes byte-identical; the primary's
// segment size is learned by an empty archive and must match a non-empty one; the
// end-of-timeline exchange is bounded.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "agent/session_test_util.h"
#include "agent/stream_failure.h"
#include "agent/wal_stream_loop.h"

namespace walrep {
namespace {

using namespace session_test;  // NOLINT: the fake primary's vocabulary

class SessionResumeTest : public SessionFixture {
 protected:
  std::string FileBytes(const std::string& name) {
    std::ifstream in(dir_ + "/wal/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

// The start position of a START_REPLICATION command ("... PHYSICAL X/X TIMELINE n").
Lsn StartOf(const std::string& query) {
  for (absl::string_view word : absl::StrSplit(query, ' ')) {
    if (word.find('/') == absl::string_view::npos) continue;
    auto lsn = Lsn::Parse(word);
    if (lsn.ok()) return *lsn;
  }
  return Lsn();
}

// WAL from the start of segment 1 to a little past the start of segment 3.
const WalTestBuilder& LongWal() {
  static const WalTestBuilder* wal = [] {
    auto* b = new WalTestBuilder({.segment_size = kSeg1, .system_id = kSysId, .start = kSeg1});
    for (int i = 0; b->end().value() < 3 * kSeg1 + 30000; ++i) {
      b->Add(10, 0, 900 + i, std::string(3000 + (i * 131) % 5000, 'a' + i % 26));
    }
    return b;
  }();
  return *wal;
}

// Sends LongWal() from `from` up to `to` in 64 KiB messages.
void SendLongWal(Peer& p, Lsn from, Lsn to) {
  const std::string& bytes = LongWal().bytes();
  for (uint64_t at = from.value(); at < to.value();) {
    const uint64_t n = std::min<uint64_t>(64 << 10, to.value() - at);
    p.Send(WalMsg(at, bytes.substr(at - kSeg1, n)));
    at += n;
  }
}

TEST_F(SessionResumeTest, ReSentWalThatDiffersIsDivergedAndNothingIsRewritten) {
  const uint64_t kChanged = 3000;
  ASSERT_LT(kSeg1 + kChanged, RecordEndWithin(5000).value());  // inside the durable WAL
  std::string second_start;
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 5000)));
        EndAfterAck(p, RecordEndWithin(5000));
      },
      [&](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId, "16MB", &second_start));
        // The same timeline, but other bytes below what the replica holds: a primary
        // restored from an older backup that wrote new WAL over the same positions.
        std::string other = W(0, 6000);
        other[kChanged] ^= 0x5a;
        p.Send(WalMsg(kSeg1, other));
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  (void)ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  const Lsn durable = writer_->flush_lsn();
  ASSERT_EQ(durable, RecordEndWithin(5000));
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_EQ(StartOf(second_start), Lsn(kSeg1));  // a session starts at the segment start
  ASSERT_EQ(FailureReasonOf(st), v1::FAILURE_REASON_DIVERGED) << st;
  EXPECT_NE(st.message().find(absl::StrCat("WAL diverged at ", Lsn(kSeg1 + kChanged).ToString())),
            std::string::npos) << st;
  // Nothing was written: the durable WAL is still the first primary's.
  EXPECT_EQ(writer_->flush_lsn(), durable);
  EXPECT_EQ(writer_->write_lsn(), durable);
  const std::string stored = FileBytes("000000010000000000000001.partial");
  ASSERT_EQ(stored.size(), kSeg1);
  EXPECT_TRUE(stored.substr(0, durable.value() - kSeg1) == W(0, durable.value() - kSeg1));
}

TEST_F(SessionResumeTest, IdenticalReSentWalIsAcceptedAndStreamingContinues) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 5000)));
        EndAfterAck(p, RecordEndWithin(5000));
      },
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 9000)));
        EndAfterAck(p, RecordEndWithin(9000));
      }});
  StreamSettings settings = Settings(server.port());
  (void)ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_FALSE(FailureReasonOf(st).has_value()) << st;
  EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(9000));
}

TEST_F(SessionResumeTest, AConnectionCutRightAfterASegmentBoundaryResumesByteIdentical) {
  const Lsn boundary(2 * kSeg1);
  const Lsn end = LongWal().end();
  std::string second_start;
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [&](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        SendLongWal(p, Lsn(kSeg1), boundary);  // the segment's last byte, then nothing
        // Wait for the acknowledgement of the whole segment's bytes, then cut.
        for (;;) {
          auto m = p.ReadTyped();
          if (!m) return;
          if (m->first != 'd') continue;
          auto u = DecodeStandbyStatusUpdate(m->second);
          if (u.ok() && u->write >= boundary) break;
        }
        p.CloseNow();
      },
      [&](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId, "16MB", &second_start));
        SendLongWal(p, StartOf(second_start), end);
        EndAfterAck(p, session_test::RecordEnds(LongWal()).Within(end));
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status first = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  // The record crossing the boundary is incomplete: the durable position is inside
  // segment 1, whose file was already sealed under its final name.
  EXPECT_LT(writer_->flush_lsn(), boundary);
  absl::Status second = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(session_test::RecordEnds(LongWal()).Within(end) == writer_->flush_lsn())
      << writer_->flush_lsn().ToString() << " " << second;
  EXPECT_EQ(StartOf(second_start), Lsn(kSeg1));
  const std::string& bytes = LongWal().bytes();
  EXPECT_TRUE(FileBytes("000000010000000000000001") == bytes.substr(0, kSeg1));
  EXPECT_TRUE(FileBytes("000000010000000000000002") == bytes.substr(kSeg1, kSeg1));
  const std::string third = FileBytes("000000010000000000000003.partial");
  ASSERT_EQ(third.size(), kSeg1);
  EXPECT_TRUE(third.substr(0, bytes.size() - 2 * kSeg1) == bytes.substr(2 * kSeg1));
}

// Catching up (the primary's end of WAL far ahead), the session fsyncs by batch — 16 MiB
// or 100 ms — so a connection lost in the middle of a batch leaves received bytes that
// were never fsynced. None of them may have been reported flushed, and the next session
// takes the stream up again from what is stored: the WAL ends byte-identical, no gap.
TEST_F(SessionResumeTest, AConnectionLostInTheMiddleOfACatchUpBatchReportsOnlyFsyncedWal) {
  const Lsn end = LongWal().end();
  const Lsn cut(kSeg1 + (uint64_t{1} << 20));  // 1 MiB into the backlog
  const Lsn primary_end(kSeg1 + (uint64_t{8} << 24));  // 8 segments ahead: catching up
  std::vector<std::pair<Lsn, Lsn>> acks;  // (reported flush, durable when it arrived)
  bool cut_unflushed = false;
  std::string second_start;
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [&](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        std::atomic<bool> done{false};
        std::thread reader([&] {
          while (auto m = p.ReadTyped()) {
            if (m->first != 'd' || m->second.empty() || m->second[0] != 'r') continue;
            auto u = DecodeStandbyStatusUpdate(m->second);
            if (u.ok()) acks.emplace_back(u->flush, Lsn(durable_.load()));
          }
          done = true;
        });
        const std::string& bytes = LongWal().bytes();
        for (uint64_t at = kSeg1; at < cut.value(); at += 64 << 10) {
          const std::string piece =
              bytes.substr(at - kSeg1, std::min<uint64_t>(64 << 10, cut.value() - at));
          XLogData x;
          x.start = Lsn(at);
          x.data = piece;
          x.wal_end = primary_end;
          p.Send(*EncodeCopyData(EncodeXLogData(x)));
        }
        // The session has taken every byte (written, within its batch), then the
        // connection is gone: no CopyDone, no CommandComplete.
        const absl::Time deadline = absl::Now() + absl::Seconds(20);
        while (writer_->write_lsn() < cut && absl::Now() < deadline) {
          absl::SleepFor(absl::Milliseconds(1));
        }
        ASSERT_EQ(writer_->write_lsn(), cut);
        cut_unflushed = writer_->flush_lsn() < RecordEnds(LongWal()).Within(cut);
        p.CloseNow();
        reader.join();
      },
      [&](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId, "16MB", &second_start));
        SendLongWal(p, StartOf(second_start), end);
        EndAfterAck(p, RecordEnds(LongWal()).Within(end));
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status first = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  // Every position reported as flushed had been fsynced when it was reported (or is the
  // stream's start, below which an empty archive claims nothing).
  for (const auto& [flush, durable] : acks) {
    EXPECT_LE(flush, std::max(durable, Lsn(kSeg1)))
        << flush.ToString() << " reported, " << durable.ToString() << " fsynced";
  }
  // Usually the batch was younger than 100 ms at the cut (a stalled machine may have
  // flushed it first): then it was not acknowledged — what the primary was told stays
  // at or below the fsynced position either way.
  if (cut_unflushed) {
    for (const auto& ack : acks) EXPECT_LT(ack.first, RecordEnds(LongWal()).Within(cut));
  }
  EXPECT_LE(writer_->flush_lsn(), std::max(Lsn(durable_.load()), Lsn(kSeg1)));
  absl::Status second = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  // The next session starts at the start of the segment it holds; what the primary
  // re-sends below the write position is compared, the rest appended.
  EXPECT_EQ(StartOf(second_start), Lsn(kSeg1));
  EXPECT_EQ(writer_->flush_lsn(), RecordEnds(LongWal()).Within(end)) << second;
  const std::string& bytes = LongWal().bytes();
  EXPECT_TRUE(FileBytes("000000010000000000000001") == bytes.substr(0, kSeg1));
  EXPECT_TRUE(FileBytes("000000010000000000000002") == bytes.substr(kSeg1, kSeg1));
  const std::string third = FileBytes("000000010000000000000003.partial");
  ASSERT_EQ(third.size(), kSeg1);
  EXPECT_TRUE(third.substr(0, bytes.size() - 2 * kSeg1) == bytes.substr(2 * kSeg1));
}

TEST_F(SessionResumeTest, AnArchiveRefusesAPrimaryWithAnotherSegmentSize) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 5000)));
        EndAfterAck(p, RecordEndWithin(5000));
      },
      [](Peer& p) {
        fake_pg::TrustHandshake(p);
        auto q = p.ReadTyped();
        p.Send(IdentifyDesc() + fake_pg::Row({absl::StrCat(kSysId), "1", "0/1000100", std::nullopt}) +
               fake_pg::Complete("IDENTIFY_SYSTEM") + fake_pg::Ready());
        AnswerSegmentSize(p, "64MB");
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  (void)ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  const Lsn durable = writer_->flush_lsn();
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(FailureReasonOf(st), v1::FAILURE_REASON_SEGMENT_SIZE_MISMATCH) << st;
  EXPECT_NE(st.message().find("67108864"), std::string::npos) << st;
  EXPECT_EQ(writer_->segment_size(), kSeg1);
  EXPECT_EQ(writer_->flush_lsn(), durable);
}

TEST_F(SessionResumeTest, AnEmptyArchiveTakesThePrimarysSegmentSize) {
  constexpr uint64_t kOneMiB = 1 << 20;
  WalTestBuilder wal({.segment_size = kOneMiB, .system_id = kSysId, .start = kOneMiB});
  for (int i = 0; wal.end().value() < kOneMiB + 10000; ++i) wal.Add(10, 0, 5 + i, std::string(300, 'q'));
  fake_pg::FakeServer server;
  server.Run([&](Peer& p) {
    fake_pg::TrustHandshake(p);
    auto q = p.ReadTyped();
    p.Send(IdentifyDesc() + fake_pg::Row({absl::StrCat(kSysId), "1", "0/100100", std::nullopt}) +
           fake_pg::Complete("IDENTIFY_SYSTEM") + fake_pg::Ready());
    ASSERT_TRUE(AnswerSegmentSize(p, "1MB"));
    q = p.ReadTyped();
    ASSERT_TRUE(q && q->second.find("START_REPLICATION") == 0);
    EXPECT_EQ(StartOf(q->second), Lsn(kOneMiB));  // the segment start in 1 MiB segments
    p.Send(fake_pg::CopyResp('W'));
    p.Send(WalMsg(kOneMiB, wal.bytes()));
    EndAfterAck(p, RecordEnds(wal, kOneMiB).Within(wal.end()));
  });
  StreamSettings settings = Settings(server.port());
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;  // the primary's clean shutdown
  EXPECT_EQ(writer_->segment_size(), kOneMiB);
  EXPECT_EQ(FileBytes("000000010000000000000001.partial").size(), kOneMiB);
  EXPECT_EQ(writer_->flush_lsn(), RecordEnds(wal, kOneMiB).Within(wal.end()));
  EXPECT_GT(writer_->flush_lsn(), Lsn(kOneMiB + 9000));
}

TEST_F(SessionResumeTest, AnEndOfCopyThatNeverFinishesIsCutOffAtTheCap) {
  fake_pg::FakeServer server;
  server.Run([](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 3000)));
    p.Send(EncodeFrame('c', ""));
    // Instead of the end-of-timeline result: CopyData without end.
    const std::string junk = *EncodeCopyData(std::string(8000, 'k'));
    for (uint64_t sent = 0; sent <= 2 * kMaxEndOfCopyBytes; sent += junk.size()) p.Send(junk);
    while (p.ReadTyped()) {
    }  // until the client gives up and closes
  });
  StreamSettings settings = Settings(server.port());
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("after the end of the COPY"), std::string::npos) << st;
  EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(3000));
}

}  // namespace
}  // namespace walrep
