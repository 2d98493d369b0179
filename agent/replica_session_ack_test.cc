// ReplicaSession's acknowledgement rules against a scripted fake primary speaking the real
// protocol: a reply-requested keepalive is answered at once, never with a flush position
// beyond what is fsynced — checked with an fdatasync held open, while catching up (one
// fsync per batch, not per drained message), and with a record larger than a segment.
#include "agent/replica_session.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "agent/stream_failure.h"
#include "agent/session_test_util.h"
#include "replay/fault_file_ops.h"
#include "wire/fake_pg_server.h"

namespace walrep {
namespace {

using namespace session_test;  // NOLINT: the fake primary's vocabulary

// When a status update reached the fake primary, relative to a held fdatasync.
enum Phase { kBeforeHold, kHeld, kReleased };

// The primary's record of the acknowledgements: every standby status update the session
// sent, in arrival order, each with the durable position when it arrived and the phase.
// A reader thread on the primary's side fills it while the script sends; thread-safe.
class AckLog {
 public:
  struct Ack {
    StandbyStatusUpdate update;
    // The writer's write_lsn at the last WAL fdatasync that had returned when the update
    // arrived. The update was sent no later, so this is at least what was durable when it
    // was sent: a check against it can let a premature update slip only if a sync
    // returned in between — never while a sync is held.
    Lsn durable;
    Phase phase = kBeforeHold;
  };

  // Reads the session's messages until its CopyDone or the end of the connection.
  void ReadFrom(Peer& p, const std::atomic<uint64_t>& durable, const std::atomic<int>& phase) {
    for (;;) {
      auto m = p.ReadTyped();
      if (!m || m->first == 'c') break;
      if (m->first != 'd' || m->second.empty() || m->second[0] != 'r') continue;
      auto u = DecodeStandbyStatusUpdate(m->second);
      Ack a{StandbyStatusUpdate{}, Lsn(durable.load()), static_cast<Phase>(phase.load())};
      if (!u.ok()) {
        ADD_FAILURE() << "undecodable status update: " << u.status();
        continue;
      }
      a.update = *u;
      absl::MutexLock lock(&mu_);
      acks_.push_back(a);
    }
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

  std::vector<Ack> acks() const {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return acks_.size();
  }
  // Waits until `pred` holds for the acknowledgements so far (false after 60 s or when
  // the stream ended without it).
  bool WaitFor(const std::function<bool(const std::vector<Ack>&)>& pred) const {
    absl::MutexLock lock(&mu_);
    auto done = [&]() { return ended_ || pred(acks_); };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60));
    return pred(acks_);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Ack> acks_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

// The rule under test ("no acknowledgement ahead of fsync"): an update may report as
// flushed no more than the end of the last complete record inside the bytes whose
// fdatasync had returned. Returns the breach, or "" when the update keeps the rule.
std::string AheadOfFsync(const AckLog::Ack& a, const RecordEnds& ends) {
  const Lsn allowed = ends.Within(a.durable);
  if (a.update.flush <= allowed) return "";
  return absl::StrCat("flush ", a.update.flush.ToString(), " (write ", a.update.write.ToString(),
                      ") reported while only WAL up to ", a.durable.ToString(),
                      " was fsynced, whose last complete record ends at ", allowed.ToString());
}

class ReplicaSessionAckTest : public SessionFixture {};


TEST_F(ReplicaSessionAckTest, ReplyRequestedKeepaliveIsAnsweredWithTheFsyncedPosition) {
  fake_pg::FakeServer server;
  std::atomic<bool> answered{false};
  StandbyStatusUpdate got;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    // Drain the immediate status update sent on entering COPY.
    auto first = p.ReadTyped();
    ASSERT_TRUE(first && first->first == 'd');
    p.Send(WalMsg(kSeg1, W(0, 4096)));
    PrimaryKeepalive k;
    k.wal_end = Lsn(kSeg1 + 4096);
    k.reply_requested = true;
    p.Send(*EncodeCopyData(EncodePrimaryKeepalive(k)));
    for (int i = 0; i < 5 && !answered; ++i) {
      auto m = p.ReadTyped();
      if (!m || m->first != 'd') break;
      auto u = DecodeStandbyStatusUpdate(m->second);
      if (u.ok() && u->write == Lsn(kSeg1 + 4096) && u->flush.valid()) {
        got = *u;
        answered = true;
      }
    }
    stop_.store(true);
    // The clean stop: a last status update, then CopyDone, which the primary answers.
    for (;;) {
      auto m = p.ReadTyped();
      if (!m || m->first == 'c') break;
    }
    p.Send(EncodeCopyDone() + Complete("COPY 0") + Ready());
  });
  StreamSettings settings = Settings(server.port());
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(answered.load());
  EXPECT_EQ(got.write, Lsn(kSeg1 + 4096));
  // Flushed means: the end of the last complete record in the fsynced bytes.
  EXPECT_EQ(got.flush, RecordEndWithin(4096));
  EXPECT_LT(got.flush, Lsn(kSeg1 + 4096));
  EXPECT_LE(got.flush, writer_->flush_lsn());
  EXPECT_TRUE(st.ok()) << st;
}

// "No acknowledgement ahead of fsync": the fdatasync covering a batch is held open while
// the primary keeps asking for replies, and every status update the primary receives is
// checked against the bytes whose fdatasync had returned when it arrived.
//
// Why this fails if the session were wrong:
//  - Reporting write_lsn (or any byte position) as flushed: every batch below ends inside
//    a record, so such a flush lies past the last complete record of the durable bytes and
//    AheadOfFsync flags it (the first update after the release would also not be the
//    record end).
//  - Reporting before Flush returned (an update sent with the batch's record end, or an
//    answer to a reply-requested keepalive computed from what was written, before the
//    fdatasync): that update is sent while the sync is held. The session counts every
//    update it sends, and the test waits, during the hold, until the primary has received
//    that many, so the premature update arrives while the durable position is still the
//    previous batch's and is flagged — no timing luck involved.
//  - A writer advancing flush_lsn before its fdatasync returned: checked directly during
//    the hold.
// The negative controls below run exactly those wrong updates through AheadOfFsync with
// the position that was durable during the hold, so the check cannot pass vacuously.
TEST_F(ReplicaSessionAckTest, NoAcknowledgementAheadOfFsync) {
  // Every cut point falls inside a record: a byte position is never a record end here.
  for (uint64_t cut : {3000, 5000, 9000, 12100, 14600}) {
    ASSERT_LT(RecordEndWithin(cut), Lsn(kSeg1 + cut)) << cut;
  }
  const RecordEnds ends(Wal());
  auto msg = [](uint64_t off, size_t n) { return WalMsg(kSeg1 + off, W(off, n)); };
  fake_pg::FakeServer server;
  AckLog log;
  std::atomic<int> phase{kBeforeHold};
  Lsn covered;  // what the held fdatasync covers (the writer's write_lsn inside it)
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    std::thread reader([&] { log.ReadFrom(p, durable_, phase); });
    absl::Cleanup end_stream = [&] {
      fault_.ReleaseSync();  // never leave the session blocked, whatever failed
      stop_.store(true);
      reader.join();  // until the session's CopyDone
      p.Send(EncodeCopyDone() + Complete("COPY 0") + Ready());
    };
    auto count = [](Phase ph) {
      return [ph](const std::vector<AckLog::Ack>& acks) {
        return std::count_if(acks.begin(), acks.end(),
                             [ph](const AckLog::Ack& a) { return a.phase == ph; });
      };
    };

    // 1. Before any hold: 5000 bytes in two messages, reported once fsynced; then a
    //    reply-requested keepalive, answered with exactly one update. After it no
    //    fdatasync is pending: the next one is for new WAL.
    p.Send(msg(0, 3000) + msg(3000, 2000));
    ASSERT_TRUE(log.WaitFor([&](const std::vector<AckLog::Ack>& acks) {
      return !acks.empty() && acks.back().update.write == Lsn(kSeg1 + 5000);
    }));
    ASSERT_EQ(log.acks().back().update.flush, RecordEndWithin(5000));
    const size_t before_reply = log.size();
    p.Send(KeepaliveMsg(Lsn(kSeg1 + 5000), true));
    ASSERT_TRUE(log.WaitFor(
        [&](const std::vector<AckLog::Ack>& acks) { return acks.size() == before_reply + 1; }));
    EXPECT_EQ(Lsn(durable_.load()), Lsn(kSeg1 + 5000));

    // 2. Hold the next fdatasync, and send a batch with keepalives inside it.
    phase = kHeld;
    fault_.HoldNextSync();
    p.Send(msg(5000, 4000) + msg(9000, 3100) + KeepaliveMsg(Lsn(kSeg1 + 12100), true) +
           msg(12100, 2500) + KeepaliveMsg(Lsn(kSeg1 + 14600), true));
    std::optional<FaultInjectingFileOps::SyncCall> held =
        fault_.WaitUntilSyncHeld(absl::Seconds(60));
    ASSERT_TRUE(held.has_value());
    // Stable: the writer's thread is inside the sync. The sync covers the batch from its
    // first byte (offset 5000 in segment 1) to the writer's write_lsn.
    covered = writer_->write_lsn();
    EXPECT_EQ(held->begin, 5000u) << held->path;
    EXPECT_EQ(Lsn(kSeg1 + held->end), covered) << held->path;
    EXPECT_GE(covered, Lsn(kSeg1 + 9000));
    // The primary keeps asking while the session is inside fdatasync; it cannot answer
    // (its one thread is blocked there), and must not have answered ahead of the sync.
    for (int i = 0; i < 3; ++i) p.Send(KeepaliveMsg(Lsn(kSeg1 + 14600), true));
    // Everything the session sent before it entered the sync reaches the primary.
    const size_t sent = status_.status_updates_sent.load();
    ASSERT_TRUE(
        log.WaitFor([&](const std::vector<AckLog::Ack>& acks) { return acks.size() >= sent; }));
    EXPECT_EQ(log.size(), sent);
    EXPECT_EQ(Lsn(durable_.load()), Lsn(kSeg1 + 5000));
    EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(5000)) << writer_->flush_lsn().ToString();
    // Negative controls: the two wrong acknowledgements, judged with what was durable now.
    const Lsn batch_record_end = ends.Within(covered);
    ASSERT_GT(batch_record_end, RecordEndWithin(5000));  // the held batch completes records
    StandbyStatusUpdate early;
    early.write = covered;
    early.flush = batch_record_end;  // the batch's record end, before its fsync returned
    EXPECT_NE(AheadOfFsync({early, Lsn(durable_.load()), kHeld}, ends), "");
    StandbyStatusUpdate byte_position = early;
    byte_position.flush = covered;  // write_lsn reported as flushed
    EXPECT_NE(AheadOfFsync({byte_position, Lsn(durable_.load()), kHeld}, ends), "");
    EXPECT_NE(AheadOfFsync({byte_position, covered, kReleased}, ends), "");

    // 3. Release: the held batch's record end is reported, then the rest, and each of the
    //    five reply-requested keepalives (two in the batch, three during the hold) is
    //    answered.
    phase = kReleased;
    fault_.ReleaseSync();
    ASSERT_TRUE(log.WaitFor([&](const std::vector<AckLog::Ack>& acks) {
      return count(kReleased)(acks) >= 5 && acks.back().update.write == Lsn(kSeg1 + 14600) &&
             acks.back().update.flush == RecordEndWithin(14600);
    }));
  });
  StreamSettings settings = Settings(server.port());
  settings.status_interval = absl::Hours(1);  // only the stream's events trigger updates
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(st.ok()) << st;

  const std::vector<AckLog::Ack> acks = log.acks();
  ASSERT_FALSE(acks.empty());
  Lsn last_flush;
  bool first_released = true;
  for (size_t i = 0; i < acks.size(); ++i) {
    const AckLog::Ack& a = acks[i];
    EXPECT_EQ(AheadOfFsync(a, ends), "") << "update " << i;
    EXPECT_GE(a.update.flush, last_flush) << "update " << i;
    EXPECT_LE(a.update.flush, a.update.write) << "update " << i;
    last_flush = a.update.flush;
    if (a.phase == kHeld) {
      EXPECT_LE(a.update.flush, RecordEndWithin(5000)) << "update " << i;
    }
    if (a.phase == kReleased && first_released) {
      // The first update after the release: the held batch, up to its last record.
      first_released = false;
      EXPECT_EQ(a.update.write, covered) << a.update.write.ToString();
      EXPECT_EQ(a.update.flush, ends.Within(covered)) << a.update.flush.ToString();
    }
  }
  EXPECT_FALSE(first_released);
  EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(14600));
}

// WAL holding a record larger than a segment (16 MiB segments): a 15 MiB filler record
// from the start of segment 1, then a 20 MiB record that starts in segment 1 and ends in
// segment 3 (spanning two segment boundaries), then a small one.
struct BigRecordWal {
  WalTestBuilder wal{{.segment_size = kSeg1, .system_id = kSysId, .start = kSeg1}};
  Lsn filler_end;
  Lsn big_start;
  Lsn big_end;
  Lsn tail_start;
  Lsn tail_end;
};
const BigRecordWal& BigWal() {
  static const BigRecordWal* w = [] {
    auto* b = new BigRecordWal;
    b->wal.Add(10, 0, 1, std::string(15u << 20, 'f'));
    b->filler_end = b->wal.end();
    b->big_start = b->wal.Add(10, 0, 2, std::string(20u << 20, 'b'));
    b->big_end = b->wal.end();
    b->tail_start = b->wal.Add(10, 0, 3, std::string(3000, 't'));
    b->tail_end = b->wal.end();
    return b;
  }();
  return *w;
}

// Catching up (the primary's end of WAL more than a segment ahead), a drained socket does
// not end a batch: messages arriving one at a time are fsynced together, a batch whose
// walsender stalls is fsynced and acknowledged soon anyway (long before the status
// interval), and once caught up each drained batch is fsynced at once again.
TEST_F(ReplicaSessionAckTest, CatchingUpFsyncsByBatchNotPerDrainedMessage) {
  fake_pg::FakeServer server;
  const size_t kPiece = 1500, kPieces = 10;
  const size_t total = Wal().bytes().size();
  ASSERT_GT(total, kPiece * kPieces);
  int syncs_catching_up = -1;
  absl::Duration stalled_ack = absl::InfiniteDuration();
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    auto first = p.ReadTyped();  // the status update sent on entering COPY
    ASSERT_TRUE(first && first->first == 'd');
    const int syncs_before = fault_.calls(FaultInjectingFileOps::Op::kSync);
    for (size_t i = 0; i < kPieces; ++i) {
      const std::string piece = W(i * kPiece, kPiece);
      XLogData x;
      x.start = Lsn(kSeg1 + i * kPiece);
      x.data = piece;
      x.wal_end = Lsn(kSeg1 + (uint64_t{3} << 24));  // 48 MiB: three segments ahead
      p.Send(*EncodeCopyData(EncodeXLogData(x)));
      // Paced, so that the session drains its socket between messages.
      absl::SleepFor(absl::Milliseconds(5));
    }
    // Nothing more for now: the batch is acknowledged without waiting for the status
    // interval (10 s).
    const absl::Time stalled = absl::Now();
    const Lsn want = RecordEndWithin(kPiece * kPieces);
    for (;;) {
      auto m = p.ReadTyped();
      ASSERT_TRUE(m.has_value()) << "the session ended before acknowledging the batch";
      if (m->first != 'd') continue;
      auto u = DecodeStandbyStatusUpdate(m->second);
      if (u.ok() && u->flush >= want) break;
    }
    stalled_ack = absl::Now() - stalled;
    syncs_catching_up = fault_.calls(FaultInjectingFileOps::Op::kSync) - syncs_before;
    // The rest, caught up: fsynced and acknowledged as soon as it is drained.
    p.Send(WalMsg(kSeg1 + kPiece * kPieces, W(kPiece * kPieces, total - kPiece * kPieces)));
    EndAfterAck(p, RecordEndWithin(total));
  });
  absl::Status st = ReplicaSession(Settings(server.port()), &ctx_, &stop_).Run(nullptr);
  server.Join();
  // Paced 5 ms apart, the ten messages came within one batch's age limit (two if the
  // machine stretched the pacing): far fewer fsyncs than drained reads.
  EXPECT_GE(syncs_catching_up, 1);
  EXPECT_LE(syncs_catching_up, 3);
  EXPECT_LT(stalled_ack, absl::Seconds(5));
  EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(total));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;  // the primary's clean shutdown
}

TEST_F(ReplicaSessionAckTest, RecordLargerThanASegmentIsAcknowledgedOnlyWhenComplete) {
  const BigRecordWal& big = BigWal();
  ASSERT_EQ(big.big_start, big.filler_end);
  ASSERT_LT(big.big_start, Lsn(2 * kSeg1));
  ASSERT_GT(big.big_end, Lsn(3 * kSeg1));
  const RecordEnds ends(big.wal);
  const std::string& bytes = big.wal.bytes();
  // As a walsender sends: messages of at most 128 KiB.
  auto send = [&](Peer& p, uint64_t from, uint64_t to) {
    constexpr uint64_t kMsg = 128 << 10;
    for (uint64_t off = from; off < to; off += kMsg) {
      p.Send(WalMsg(kSeg1 + off, bytes.substr(off, std::min(kMsg, to - off))));
    }
  };
  const uint64_t big_off = big.big_start - Lsn(kSeg1);
  const uint64_t big_end_off = big.big_end - Lsn(kSeg1);
  const uint64_t last_off = big.tail_start - Lsn(kSeg1) + 1500;  // inside the tail record
  fake_pg::FakeServer server;
  AckLog log;
  std::atomic<int> phase{kBeforeHold};
  std::vector<Lsn> reply_writes;  // where each keepalive inside the big record was sent
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    std::thread reader([&] { log.ReadFrom(p, durable_, phase); });
    absl::Cleanup end_stream = [&] {
      stop_.store(true);
      reader.join();
      p.Send(EncodeCopyDone() + Complete("COPY 0") + Ready());
    };
    // A reply-requested keepalive at `at`, inside the big record: as flush cannot move,
    // the only update is the answer, with flush at the record's start.
    auto ask = [&](uint64_t at) {
      const size_t before = log.size();
      p.Send(KeepaliveMsg(Lsn(kSeg1 + at), true));
      reply_writes.push_back(Lsn(kSeg1 + at));
      auto answered = [&](const std::vector<AckLog::Ack>& acks) { return acks.size() > before; };
      if (!log.WaitFor(answered)) {
        ADD_FAILURE() << "keepalive at " << Lsn(kSeg1 + at).ToString() << " not answered";
        return false;
      }
      const AckLog::Ack reply = log.acks()[before];
      EXPECT_EQ(reply.update.write, Lsn(kSeg1 + at)) << reply.update.write.ToString();
      EXPECT_EQ(reply.update.flush, big.big_start) << reply.update.flush.ToString();
      return true;
    };
    // The filler record and the first 256 KiB of the big one: flush moves to the filler's
    // end (one update), and can move no further until the big record is complete.
    uint64_t pos = big_off + (256 << 10);
    send(p, 0, pos);
    ASSERT_TRUE(log.WaitFor([&](const std::vector<AckLog::Ack>& acks) {
      return !acks.empty() && acks.back().update.write >= big.filler_end;
    }));
    ASSERT_EQ(log.acks().back().update.flush, big.big_start);
    ASSERT_TRUE(ask(pos));
    // The big record in 3 MiB pieces, each followed by a reply-requested keepalive.
    while (pos + (3 << 20) < big_end_off) {
      send(p, pos, pos + (3 << 20));
      pos += 3 << 20;
      ASSERT_TRUE(ask(pos));
    }
    // The rest of the big record and part of the next: flush moves to the big record's end.
    send(p, pos, last_off);
    p.Send(KeepaliveMsg(Lsn(kSeg1 + last_off), true));
    ASSERT_TRUE(log.WaitFor([&](const std::vector<AckLog::Ack>& acks) {
      return !acks.empty() && acks.back().update.write == Lsn(kSeg1 + last_off);
    }));
  });
  StreamSettings settings = Settings(server.port());
  settings.status_interval = absl::Hours(1);
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(st.ok()) << st;

  // Keepalives were answered inside the big record in each of its three segments.
  ASSERT_GE(reply_writes.size(), 3u);
  EXPECT_LT(reply_writes.front(), Lsn(2 * kSeg1)) << reply_writes.front().ToString();
  EXPECT_GT(reply_writes.back(), Lsn(3 * kSeg1)) << reply_writes.back().ToString();
  const std::vector<AckLog::Ack> acks = log.acks();
  size_t while_incomplete = 0;
  for (size_t i = 0; i < acks.size(); ++i) {
    const StandbyStatusUpdate& u = acks[i].update;
    EXPECT_EQ(AheadOfFsync(acks[i], ends), "") << "update " << i;
    if (u.write < big.big_end) {
      ++while_incomplete;
      EXPECT_EQ(u.flush, u.write < big.filler_end ? Lsn(kSeg1) : big.big_start)
          << "update " << i << " flush " << u.flush.ToString() << " write " << u.write.ToString();
    } else {
      EXPECT_EQ(u.flush, big.big_end) << "update " << i << " flush " << u.flush.ToString();
    }
  }
  // While the big record was incomplete: the update on entering COPY, the filler's flush,
  // and exactly one answer per keepalive — nothing else, since flush could not move.
  EXPECT_EQ(while_incomplete, 2 + reply_writes.size());
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().update.flush, big.big_end);
  EXPECT_EQ(writer_->flush_lsn(), big.big_end);
  EXPECT_EQ(writer_->write_lsn(), Lsn(kSeg1 + last_off));
  // Segments 1 and 2 were completed and sealed under their final names.
  EXPECT_TRUE(DefaultFileOps()->FileSize(dir_ + "/wal/000000010000000000000001").ok());
  EXPECT_TRUE(DefaultFileOps()->FileSize(dir_ + "/wal/000000010000000000000002").ok());
  EXPECT_TRUE(DefaultFileOps()->FileSize(dir_ + "/wal/000000010000000000000003.partial").ok());
}

}  // namespace
}  // namespace walrep
