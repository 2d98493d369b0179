// The aiondb replay loop: only fsynced entries are applied, in order, apply_lsn is the
// last one; an unknown record kind stops replay before it.
#include "aiondb/replay.h"

#include <vector>

#include "aiondb/chain.h"
#include "replay/test_util.h"
#include "aiondb/wal_entry.h"
#include "gtest/gtest.h"

namespace walrep::aiondb {
namespace {

using walrep::testing::SizeOf;
using walrep::testing::TempDir;

class Recorder : public WalReplayHandler {
 public:
  absl::Status Apply(const WalRecord& r) override {
    lsns.push_back(r.lsn.value());
    tags.push_back(r.info);
    return absl::OkStatus();
  }
  std::vector<uint64_t> lsns;
  std::vector<uint8_t> tags;
};

absl::Status Append(WalStore& s, uint64_t first, const std::vector<std::string>& records) {
  std::string raw;
  uint64_t lsn = first;
  for (const std::string& r : records) {
    raw += *EncodeEntry(lsn, r, {.prev_lsn = lsn - 1});
    ++lsn;
  }
  auto b = CheckWalData(s.chain(), {first, lsn - 1, raw});
  if (!b.ok()) return b.status();
  return s.Append(raw, b->after);
}

TEST(Replayer, AppliesOnlyFlushedEntriesInOrder) {
  TempDir dir;
  auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 512});
  ASSERT_TRUE(s.ok());
  Recorder h;
  Replayer r(s->get(), &h);
  ASSERT_TRUE(Append(**s, 1, {"\x03" "a", "\x01" "b", std::string("\x00" "c", 2)}).ok());
  ASSERT_TRUE(r.ReplayOnce().ok());
  EXPECT_TRUE(h.lsns.empty());  // written, not yet fsynced
  ASSERT_TRUE((*s)->Flush().ok());
  ASSERT_TRUE(Append(**s, 4, {"\x44" + std::string(600, 'p')}).ok());  // a new file; unflushed
  ASSERT_TRUE(r.ReplayOnce().ok());
  EXPECT_EQ(h.lsns, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(h.tags, (std::vector<uint8_t>{3, 1, 0}));
  EXPECT_EQ(r.apply_lsn(), 3u);
  ASSERT_TRUE((*s)->Flush().ok());
  ASSERT_TRUE(r.ReplayOnce().ok());
  EXPECT_EQ(r.apply_lsn(), 4u);
  EXPECT_EQ(r.records(), 4u);
}

TEST(Replayer, UnknownRecordKindStopsBeforeIt) {
  TempDir dir;
  auto s = WalStore::Open({.dir = dir.path()});
  ASSERT_TRUE(s.ok());
  Recorder h;
  Replayer r(s->get(), &h);
  ASSERT_TRUE(Append(**s, 1, {"\x03" "a", "\x56" "not a kind", "\x03" "b"}).ok());
  ASSERT_TRUE((*s)->Flush().ok());
  EXPECT_EQ(r.ReplayOnce().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.apply_lsn(), 1u);
  EXPECT_EQ(h.lsns, (std::vector<uint64_t>{1}));
}

TEST(Replayer, NeverReadsBytesBeforeTheirFsync) {
  TempDir dir;
  auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 300});
  ASSERT_TRUE(s.ok());
  Recorder h;
  Replayer r(s->get(), &h);
  const std::string big = "\x03" + std::string(200, 'b');
  ASSERT_TRUE(Append(**s, 1, {big}).ok());
  ASSERT_TRUE((*s)->Flush().ok());
  // Appended, and new files begun (each older one synced by the rotation), no Flush yet:
  // replay applies entry 1 and reads nothing past it, and skips nothing once it is all
  // flushed.
  ASSERT_TRUE(Append(**s, 2, {big}).ok());
  ASSERT_TRUE(Append(**s, 3, {big}).ok());
  EXPECT_GE((*s)->Segments().size(), 3u);
  ASSERT_TRUE(r.ReplayOnce().ok());
  EXPECT_EQ(r.apply_lsn(), 1u);
  ASSERT_TRUE((*s)->Flush().ok());
  ASSERT_TRUE(r.ReplayOnce().ok());
  EXPECT_EQ(h.lsns, (std::vector<uint64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace walrep::aiondb
