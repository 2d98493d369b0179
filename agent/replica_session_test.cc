// ReplicaSession against hostile or broken primaries (a scripted fake speaking the real
// protocol): a gap in the WAL stream, malformed and oversized messages, a different
// cluster on reconnect; and the acknowledgement rules: a reply-requested keepalive is
// answered at once, never with a flush position beyond what is fsynced.
#include "agent/replica_session.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "replay/wal_test_builder.h"
#include "wire/fake_pg_server.h"
#include "wire/frontend.h"
#include "wire/replication_messages.h"

namespace walrep {
namespace {

using fake_pg::Complete;
using fake_pg::CopyResp;
using fake_pg::Peer;
using fake_pg::Ready;
using fake_pg::Row;

constexpr uint64_t kSysId = 7000000000000000001ull;
constexpr uint64_t kSeg1 = 16ull << 20;

// IDENTIFY_SYSTEM's row description as PostgreSQL 15 sends it (timeline is int4).
std::string IdentifyDesc() {
  std::string b = fake_pg::I16(4);
  for (auto [name, oid] : std::vector<std::pair<std::string, int>>{
           {"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) {
    b += name + '\0' + fake_pg::I32(0) + fake_pg::I16(0) + fake_pg::I32(oid) +
         fake_pg::I16(-1) + fake_pg::I32(-1) + fake_pg::I16(0);
  }
  return EncodeFrame('T', b);
}

// Answers IDENTIFY_SYSTEM with `sysid`, then START_REPLICATION with CopyBoth.
bool Handshake(Peer& p, uint64_t sysid) {
  fake_pg::TrustHandshake(p);
  auto q = p.ReadTyped();
  if (!q || q->first != 'Q' || q->second.find("IDENTIFY_SYSTEM") != 0) return false;
  p.Send(IdentifyDesc() +
         Row({absl::StrCat(sysid), "1", "0/1000100", std::nullopt}) +
         Complete("IDENTIFY_SYSTEM") + Ready());
  q = p.ReadTyped();
  if (!q || q->first != 'Q' || q->second.find("START_REPLICATION") != 0) return false;
  p.Send(CopyResp('W'));
  return true;
}

// Valid WAL from the start of segment 1: records of a few hundred bytes.
const WalTestBuilder& Wal() {
  static const WalTestBuilder* wal = [] {
    auto* b = new WalTestBuilder({.segment_size = kSeg1, .system_id = kSysId, .start = kSeg1});
    for (int i = 0; b->end().value() < kSeg1 + 20000; ++i) {
      b->Add(10, 0, 700 + i, std::string(100 + (i * 37) % 200, 'a' + i % 26));
    }
    return b;
  }();
  return *wal;
}
// `n` bytes of that WAL from LSN kSeg1 + off.
std::string W(uint64_t off, size_t n) { return Wal().bytes().substr(off, n); }
// The end of the last record wholly inside the first `n` bytes.
Lsn RecordEndWithin(uint64_t n) {
  WalDecoder d(WalDecoder::Options{.segment_size = kSeg1, .retain = false});
  d.ResetAtPage(Lsn(kSeg1));
  const std::string bytes = W(0, n);
  d.Feed(bytes);
  WalRecord r;
  while (d.Next(&r) == WalDecoder::Result::kRecord) {
  }
  return d.last_end();
}

std::string WalMsg(uint64_t start, const std::string& data) {
  XLogData x;
  x.start = Lsn(start);
  x.wal_end = Lsn(start + data.size());
  x.data = data;
  return *EncodeCopyData(EncodeXLogData(x));
}

class ReplicaSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/session-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str());
    store_ = std::make_unique<ReplicationStateStore>(dir_);
    ASSERT_TRUE(store_->Init().ok());
    WalWriter::Options o;
    o.dir = dir_ + "/wal";
    writer_ = *WalWriter::Create(o);
    ctx_.writer = writer_.get();
    ctx_.state_store = store_.get();
    ctx_.status = &status_;
    ctx_.wal_dir = o.dir;
    ctx_.segment_size = writer_->options().segment_size;
  }

  StreamSettings Settings(int port) {
    StreamSettings s;
    s.conninfo = *ConnInfo::Parse(absl::StrCat("host=127.0.0.1 port=", port,
                                               " user=rep sslmode=disable"));
    s.status_interval = absl::Seconds(10);
    return s;
  }

  std::string dir_;
  ChangeNotifier changes_;
  StreamStatus status_{&changes_};
  std::unique_ptr<ReplicationStateStore> store_;
  std::unique_ptr<WalWriter> writer_;
  StreamContext ctx_;
  std::atomic<bool> stop_{false};
};

TEST_F(ReplicaSessionTest, GapInTheStreamIsDataLossAndNothingPastItIsWritten) {
  fake_pg::FakeServer server;
  server.Run([](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 100)) + WalMsg(kSeg1 + 200, W(200, 50)));
    p.ReadTyped();  // whatever the client sends before it gives up
  });
  StreamSettings settings = Settings(server.port());
  ReplicaSession session(settings, &ctx_, &stop_);
  absl::Status st = session.Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("0/1000064"), std::string::npos) << st;  // expected position
  EXPECT_NE(st.message().find("0/10000C8"), std::string::npos) << st;  // what came
  EXPECT_EQ(writer_->write_lsn(), Lsn(kSeg1 + 100));
  EXPECT_FALSE(writer_->failed());  // a bad stream is not a storage failure
}

TEST_F(ReplicaSessionTest, OversizedAndMalformedMessagesAreRejected) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        // A CopyData header claiming 1 GiB: refused from the header alone.
        std::string header("d");
        header += fake_pg::I32(1 << 30);
        p.Send(header);
        p.ReadTyped();
      },
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(*EncodeCopyData("w\x01\x02"));  // XLogData shorter than its header
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

TEST_F(ReplicaSessionTest, ADifferentClusterOnReconnectIsRefused) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 64)));
        p.CloseNow();
      },
      [](Peer& p) {
        fake_pg::TrustHandshake(p);
        auto q = p.ReadTyped();
        p.Send(IdentifyDesc() +
               Row({"42", "1", "0/1000100", std::nullopt}) + Complete("IDENTIFY_SYSTEM") +
               Ready());
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status first = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  absl::Status verdict;
  absl::Status second =
      ReplicaSession(settings, &ctx_, &stop_).Run([&](const absl::Status& v) { verdict = v; });
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  EXPECT_EQ(verdict.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.message().find("different cluster"), std::string::npos) << second;
}

TEST_F(ReplicaSessionTest, ReplyRequestedKeepaliveIsAnsweredWithTheFsyncedPosition) {
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

}  // namespace
}  // namespace walrep
