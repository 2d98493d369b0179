// aiondb::Session against the fake aiondb primary, with the WAL store on fault-injecting
// file operations: a status update never carries a position before its fsync returned,
// and a failed fsync reports nothing past the durable position.
#include "aiondb/session.h"

#include "aiondb/wal_file.h"

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "tests/e2e_util.h"
#include "tests/fake_aiondb_primary.h"
#include "wire/conninfo.h"

namespace walrep::testing {
namespace {

struct Running {
  std::atomic<bool> stop{false};
  absl::Status result;
  std::thread thread;
};

// A fresh data directory (its parent exists, as the agent's does).
std::string DataDir(const std::string& name) {
  const std::string dir = FreshTestDir(name);
  mkdir(dir.c_str(), 0700);
  return dir;
}

aiondb::SessionOptions Options(const FakeAiondbPrimary& fake, const std::string& data_dir) {
  aiondb::SessionOptions o;
  o.conninfo = *ConnInfo::Parse(fake.ConnInfo());
  o.status_interval = absl::Seconds(30);  // only fsyncs and requests make updates here
  o.data_dir = data_dir;
  return o;
}

TEST(AiondbSession, StatusUpdateOnlyAfterFsync) {
  FakeAiondbPrimary::Options fo;
  fo.auth = FakeAiondbPrimary::Auth::kScram;
  fo.batch = 100;
  FakeAiondbPrimary fake(fo);
  fake.AddEntries(100);
  const std::string dir = DataDir("aiondb_session_fsync");
  FaultInjectingFileOps ops;
  auto store = aiondb::WalStore::Open({.dir = dir + "/wal", .ops = &ops});
  ASSERT_TRUE(store.ok()) << store.status();
  ops.HoldNextSync();
  aiondb::SessionOptions so = Options(fake, dir);
  Running r;
  so.stop = &r.stop;
  aiondb::Session session(so, store->get(), {});
  r.thread = std::thread([&] { r.result = session.Run(nullptr); });
  auto held = ops.WaitUntilSyncHeld(absl::Seconds(20));
  ASSERT_TRUE(held.has_value());
  // The entries are written and their fsync is under way: nothing past 0 was reported.
  EXPECT_EQ((*store)->written_lsn(), 100u);
  EXPECT_EQ(fake.max_flush_reported(), 0u);
  ops.ReleaseSync();
  EXPECT_TRUE(WaitFor([&] { return fake.max_flush_reported() == 100; }, absl::Seconds(20)));
  r.stop.store(true);
  r.thread.join();
  EXPECT_TRUE(r.result.ok()) << r.result;
}

TEST(AiondbSession, FailedFsyncReportsNothingAndFailsTheStore) {
  FakeAiondbPrimary fake({});
  fake.AddEntries(60);
  const std::string dir = DataDir("aiondb_session_eio");
  FaultInjectingFileOps ops;
  auto store = aiondb::WalStore::Open({.dir = dir + "/wal", .ops = &ops});
  ASSERT_TRUE(store.ok()) << store.status();
  ops.FailAfter(FaultInjectingFileOps::Op::kSync, 0, EIO);
  aiondb::SessionOptions so = Options(fake, dir);
  std::atomic<bool> stop{false};
  so.stop = &stop;
  aiondb::Session session(so, store->get(), {});
  absl::Status st = session.Run(nullptr);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE((*store)->failed());
  EXPECT_EQ((*store)->flushed_lsn(), 0u);
  EXPECT_EQ(fake.max_flush_reported(), 0u);
}

TEST(AiondbSession, FollowsAPromotedPrimaryOnlyAboveWhatItHolds) {
  const std::string dir = DataDir("aiondb_session_fork");
  auto store = aiondb::WalStore::Open({.dir = dir + "/wal"});
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<uint64_t> lsns;
  {
    FakeAiondbPrimary fake({});
    fake.AddEntries(300);
    lsns = fake.lsns();
    std::atomic<bool> stop{false};
    aiondb::SessionOptions so = Options(fake, dir);
    so.stop = &stop;
    aiondb::Session s(so, store->get(), {});
    std::thread t([&] { (void)s.Run(nullptr); });
    ASSERT_TRUE(WaitFor([&] { return (*store)->flushed_lsn() == 300; }, absl::Seconds(20)));
    stop.store(true);
    t.join();
  }
  // Timeline 2 forked at 250, below the 300 entries held: diverged, refused.
  {
    FakeAiondbPrimary::Options fo;
    fo.timeline = 2;
    fo.history = "1\t0/FA\tno recovery target specified\n";
    FakeAiondbPrimary fake(fo);
    std::atomic<bool> stop{false};
    aiondb::SessionOptions so = Options(fake, dir);
    so.stop = &stop;
    aiondb::Session s(so, store->get(), {});
    absl::Status st = s.Run(nullptr);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_EQ(s.identity_failure(), aiondb::IdentityFailure::kDiverged);
    EXPECT_TRUE(fake.start_commands().empty());
  }
  // Timeline 2 forked at 300 (0x12C): followed, the timeline file updated, streaming
  // continues from 301.
  {
    FakeAiondbPrimary::Options fo;
    fo.timeline = 2;
    fo.history = "1\t0/12C\tno recovery target specified\n";
    FakeAiondbPrimary fake(fo);
    fake.AddEntries(320);
    std::atomic<bool> stop{false};
    aiondb::SessionOptions so = Options(fake, dir);
    so.stop = &stop;
    aiondb::Session s(so, store->get(), {});
    std::thread t([&] { (void)s.Run(nullptr); });
    ASSERT_TRUE(WaitFor([&] { return (*store)->flushed_lsn() == 320; }, absl::Seconds(20)));
    stop.store(true);
    t.join();
    ASSERT_EQ(fake.start_commands().size(), 1u);
    EXPECT_EQ(fake.start_commands()[0], "START_REPLICATION 0/0000012D");
    auto id = aiondb::ReadAiondbIdentity(dir);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->timeline, 2u);
    // The new timeline's entries begin a file whose header names it.
    const auto segs = (*store)->Segments();
    ASSERT_GE(segs.size(), 2u);
    EXPECT_EQ(segs.back().first_lsn, 301u);
    std::ifstream in(segs.back().path, std::ios::binary);
    std::string header(aiondb::kFileHeaderBytes, '\0');
    in.read(header.data(), header.size());
    auto h = aiondb::DecodeFileHeader(header);
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_EQ((*h)->timeline, 2u);
  }
}

struct HostileCase {
  FakeAiondbPrimary::Hostile hostile;
  uint64_t good;  // LSN of the last entry before the bad message
};

class AiondbSessionHostile : public ::testing::TestWithParam<HostileCase> {};

TEST_P(AiondbSessionHostile, DataLossWithNothingPastTheBadMessage) {
  FakeAiondbPrimary::Options fo;
  fo.hostile = GetParam().hostile;
  fo.hostile_at = 120;  // inside the third WalData (entries 100..149)
  FakeAiondbPrimary fake(fo);
  fake.AddEntries(300);
  const std::string dir = DataDir("aiondb_session_hostile");
  auto store = aiondb::WalStore::Open({.dir = dir + "/wal"});
  ASSERT_TRUE(store.ok());
  std::atomic<bool> stop{false};
  aiondb::SessionOptions so = Options(fake, dir);
  so.stop = &stop;
  aiondb::Session session(so, store->get(), {});
  absl::Status st = session.Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_EQ((*store)->written_lsn(), GetParam().good);
  EXPECT_EQ((*store)->flushed_lsn(), GetParam().good);  // what came before is kept, durable
  EXPECT_FALSE((*store)->failed());
  EXPECT_LE(fake.max_flush_reported(), GetParam().good);
  // Read back: exactly the entries before the bad message.
  auto again = aiondb::WalStore::Open({.dir = dir + "/wal"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->entries_recovered(), GetParam().good);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, AiondbSessionHostile,
    ::testing::Values(HostileCase{FakeAiondbPrimary::Hostile::kBadCrc, 100},
                      HostileCase{FakeAiondbPrimary::Hostile::kGap, 100},
                      HostileCase{FakeAiondbPrimary::Hostile::kTrailingBytes, 100},
                      HostileCase{FakeAiondbPrimary::Hostile::kOversizedFrame, 120}));

}  // namespace
}  // namespace walrep::testing
