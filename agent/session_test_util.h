// What the ReplicaSession tests share: a scripted fake primary speaking the real protocol
// (handshake, IDENTIFY_SYSTEM, SHOW wal_segment_size, START_REPLICATION), valid WAL to
// send, and a fixture with a WAL store whose file operations can be held or failed.
#ifndef WALREP_AGENT_SESSION_TEST_UTIL_H_
#define WALREP_AGENT_SESSION_TEST_UTIL_H_

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/replica_session.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"
#include "wire/fake_pg_server.h"
#include "wire/frontend.h"
#include "wire/replication_messages.h"

namespace walrep::session_test {

using fake_pg::Complete;
using fake_pg::CopyResp;
using fake_pg::Peer;
using fake_pg::Ready;
using fake_pg::Row;

inline constexpr uint64_t kSysId = 7000000000000000001ull;
inline constexpr uint64_t kSeg1 = 16ull << 20;

// IDENTIFY_SYSTEM's row description as PostgreSQL 15 sends it (timeline is int4).
inline std::string IdentifyDesc() {
  std::string b = fake_pg::I16(4);
  for (auto [name, oid] : std::vector<std::pair<std::string, int>>{
           {"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) {
    b += name + '\0' + fake_pg::I32(0) + fake_pg::I16(0) + fake_pg::I32(oid) +
         fake_pg::I16(-1) + fake_pg::I32(-1) + fake_pg::I16(0);
  }
  return EncodeFrame('T', b);
}

// Answers SHOW wal_segment_size (the session asks right after IDENTIFY_SYSTEM).
inline bool AnswerSegmentSize(Peer& p, const std::string& size = "16MB") {
  auto q = p.ReadTyped();
  if (!q || q->first != 'Q' || q->second.find("SHOW wal_segment_size") != 0) return false;
  p.Send(fake_pg::RowDesc({"wal_segment_size"}) + Row({size}) + Complete("SHOW") + Ready());
  return true;
}

// Answers IDENTIFY_SYSTEM with `sysid` and SHOW wal_segment_size, then START_REPLICATION
// with CopyBoth; `start_query` (optional) receives the START_REPLICATION command.
inline bool Handshake(Peer& p, uint64_t sysid, const std::string& segment_size = "16MB",
                      std::string* start_query = nullptr) {
  fake_pg::TrustHandshake(p);
  auto q = p.ReadTyped();
  if (!q || q->first != 'Q' || q->second.find("IDENTIFY_SYSTEM") != 0) return false;
  p.Send(IdentifyDesc() +
         Row({absl::StrCat(sysid), "1", "0/1000100", std::nullopt}) +
         Complete("IDENTIFY_SYSTEM") + Ready());
  if (!AnswerSegmentSize(p, segment_size)) return false;
  q = p.ReadTyped();
  if (!q || q->first != 'Q' || q->second.find("START_REPLICATION") != 0) return false;
  if (start_query) *start_query = q->second;
  p.Send(CopyResp('W'));
  return true;
}

// Valid WAL from the start of segment 1: records of a few hundred bytes.
inline const WalTestBuilder& Wal() {
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
inline std::string W(uint64_t off, size_t n) { return Wal().bytes().substr(off, n); }

// The end of every record of a builder's WAL, as the decoder finds them.
class RecordEnds {
 public:
  explicit RecordEnds(const WalTestBuilder& wal, uint64_t segment_size = kSeg1)
      : start_(wal.start()) {
    WalDecoder d(WalDecoder::Options{.segment_size = segment_size, .retain = false});
    d.ResetAtPage(wal.start());
    d.Feed(wal.bytes());
    WalRecord r;
    while (d.Next(&r) == WalDecoder::Result::kRecord) ends_.push_back(d.last_end());
  }
  // The end of the last record wholly below `end` (the WAL's start if none is).
  Lsn Within(Lsn end) const {
    auto it = std::upper_bound(ends_.begin(), ends_.end(), end);
    return it == ends_.begin() ? start_ : *(it - 1);
  }

 private:
  Lsn start_;
  std::vector<Lsn> ends_;
};

// The end of the last record wholly inside the first `n` bytes of Wal().
inline Lsn RecordEndWithin(uint64_t n) {
  static const RecordEnds* ends = new RecordEnds(Wal());
  return ends->Within(Lsn(kSeg1 + n));
}

inline std::string WalMsg(uint64_t start, const std::string& data) {
  XLogData x;
  x.start = Lsn(start);
  x.wal_end = Lsn(start + data.size());
  x.data = data;
  return *EncodeCopyData(EncodeXLogData(x));
}

// Reads the session's status updates until one reports `flush` as flushed, then ends the
// stream as a shutting-down walsender does (CommandComplete, close). Closing earlier, with
// WAL still unread, would reset the connection and drop that WAL.
inline void EndAfterAck(Peer& p, Lsn flush) {
  for (;;) {
    auto m = p.ReadTyped();
    if (!m) return;
    if (m->first != 'd') continue;
    auto u = DecodeStandbyStatusUpdate(m->second);
    if (u.ok() && u->flush >= flush) break;
  }
  p.Send(Complete("COPY 0"));
  p.CloseNow();
}

inline std::string KeepaliveMsg(Lsn wal_end, bool reply_requested) {
  PrimaryKeepalive k;
  k.wal_end = wal_end;
  k.reply_requested = reply_requested;
  return *EncodeCopyData(EncodePrimaryKeepalive(k));
}

class SessionFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/session-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str());
    store_ = std::make_unique<ReplicationStateStore>(dir_);
    ASSERT_TRUE(store_->Init().ok());
    WalWriter::Options o;
    o.dir = dir_ + "/wal";
    o.file_ops = &fault_;
    writer_ = *WalWriter::Create(o);
    // The writer's thread is the only one that writes and syncs: after a sync returns,
    // every byte below write_lsn has been fsynced.
    fault_.OnSyncReturned([this](const FaultInjectingFileOps::SyncCall&) {
      durable_.store(std::max(durable_.load(), writer_->write_lsn().value()));
    });
    ctx_.writer = writer_.get();
    ctx_.state_store = store_.get();
    ctx_.status = &status_;
    ctx_.wal_dir = o.dir;
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
  FaultInjectingFileOps fault_;       // outlives the writer's files
  std::atomic<uint64_t> durable_{0};  // write_lsn at the last WAL fdatasync that returned
  std::unique_ptr<WalWriter> writer_;
  StreamContext ctx_;
  std::atomic<bool> stop_{false};
};

}  // namespace walrep::session_test

#endif  // WALREP_AGENT_SESSION_TEST_UTIL_H_
