// The aiondb WAL store: appends in aiondb's file layout, rotation, recovery of the
// position (a torn tail cut off, damage in an older file refused), the LSN mode decided
// by the entries, a sticky failure after a failed fsync.
#include "aiondb/wal_store.h"

#include <fstream>

#include "aiondb/chain.h"
#include "aiondb/envelope.h"
#include "aiondb/wal_entry.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"

namespace walrep::aiondb {
namespace {

using walrep::testing::SizeOf;
using walrep::testing::TempDir;

std::string Batch(uint64_t first, int n, std::vector<uint64_t>* lsns, bool byte_offset = false) {
  std::string raw;
  uint64_t lsn = first;
  uint64_t prev = first > 1 ? first - 1 : 0;
  for (int i = 0; i < n; ++i) {
    std::string e = *EncodeEntry(lsn, "\x09" + std::string(100 + i, 'r'), {.prev_lsn = prev});
    raw += e;
    lsns->push_back(lsn);
    prev = lsn;
    lsn = byte_offset ? lsn + e.size() : lsn + 1;
  }
  return raw;
}

absl::Status Feed(WalStore& s, const std::string& raw, uint64_t first, uint64_t last) {
  auto b = CheckWalData(s.chain(), {first, last, raw});
  if (!b.ok()) return b.status();
  if (absl::Status st = s.Append(raw, b->after); !st.ok()) return st;
  return s.Flush();
}

TEST(WalStore, AppendsRotatesAndRecovers) {
  TempDir dir;
  std::vector<uint64_t> lsns;
  {
    auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 4096});
    ASSERT_TRUE(s.ok()) << s.status();
    (*s)->SetIdentity(77, 1);
    for (int k = 0; k < 10; ++k) {
      const uint64_t first = lsns.empty() ? 1 : lsns.back() + 1;
      std::string raw = Batch(first, 10, &lsns);
      ASSERT_TRUE(Feed(**s, raw, first, lsns.back()).ok());
    }
    EXPECT_EQ((*s)->flushed_lsn(), 100u);
    EXPECT_GT((*s)->Segments().size(), 3u);  // rotated at 4 KiB
    EXPECT_EQ((*s)->mode(), LsnMode::kLogical);
  }
  auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 4096});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->flushed_lsn(), 100u);
  EXPECT_EQ((*s)->entries_recovered(), 100u);
  EXPECT_EQ((*s)->chain().resume_lsn(), 101u);
  EXPECT_EQ((*s)->mode(), LsnMode::kLogical);
  const auto segs = (*s)->Segments();
  EXPECT_EQ(segs.front().path, dir.Join("wal_000000000001.log"));
  EXPECT_EQ(segs.front().first_lsn, 1u);
}

TEST(WalStore, TornTailIsCutOffAndAppendingContinues) {
  TempDir dir;
  std::vector<uint64_t> lsns;
  {
    auto s = WalStore::Open({.dir = dir.path()});
    ASSERT_TRUE(s.ok());
    std::string raw = Batch(1, 5, &lsns);
    ASSERT_TRUE(Feed(**s, raw, 1, 5).ok());
  }
  const std::string file = dir.Join("wal_000000000001.log");
  const int64_t good = SizeOf(file);
  {
    std::ofstream out(file, std::ios::binary | std::ios::app);
    std::string partial = *EncodeEntry(6, "\x09torn");
    out << partial.substr(0, partial.size() - 3);
  }
  auto s = WalStore::Open({.dir = dir.path()});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->flushed_lsn(), 5u);
  EXPECT_EQ(SizeOf(file), good);
  std::string raw = Batch(6, 3, &lsns);
  ASSERT_TRUE(Feed(**s, raw, 6, 8).ok());
  auto again = WalStore::Open({.dir = dir.path()});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->flushed_lsn(), 8u);
}

TEST(WalStore, DamageInAnOlderFileIsDataLoss) {
  TempDir dir;
  std::vector<uint64_t> lsns;
  {
    auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 1024});
    ASSERT_TRUE(s.ok());
    for (int k = 0; k < 4; ++k) {
      const uint64_t first = lsns.empty() ? 1 : lsns.back() + 1;
      std::string raw = Batch(first, 6, &lsns);
      ASSERT_TRUE(Feed(**s, raw, first, lsns.back()).ok());
    }
  }
  {
    std::fstream f(dir.Join("wal_000000000001.log"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kFileHeaderBytes + 20);
    f.put('#');
  }
  auto s = WalStore::Open({.dir = dir.path(), .file_bytes = 1024});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
}

TEST(WalStore, ByteOffsetModeIsWrittenIntoTheHeader) {
  TempDir dir;
  std::vector<uint64_t> lsns;
  {
    auto s = WalStore::Open({.dir = dir.path()});
    ASSERT_TRUE(s.ok());
    // One entry first: the mode cannot be known yet.
    std::string one = Batch(1, 1, &lsns, true);
    ASSERT_TRUE(Feed(**s, one, 1, 1).ok());
    EXPECT_EQ((*s)->mode(), LsnMode::kUnknown);
    const uint64_t next = 1 + one.size();
    std::vector<uint64_t> more;
    std::string rest;
    uint64_t lsn = next;
    uint64_t prev = 1;
    for (int i = 0; i < 3; ++i) {
      std::string e = *EncodeEntry(lsn, "\x09x", {.prev_lsn = prev});
      rest += e;
      more.push_back(lsn);
      prev = lsn;
      lsn += e.size();
    }
    ASSERT_TRUE(Feed(**s, rest, next, more.back()).ok());
    EXPECT_EQ((*s)->mode(), LsnMode::kByteOffset);
  }
  std::ifstream in(dir.Join("wal_000000000001.log"), std::ios::binary);
  std::string header(kFileHeaderBytes, '\0');
  in.read(header.data(), header.size());
  EXPECT_EQ(header[9], 2);
  auto s = WalStore::Open({.dir = dir.path()});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->mode(), LsnMode::kByteOffset);
}

TEST(WalStore, FailedFsyncIsStickyAndNothingIsReportedFlushed) {
  TempDir dir;
  FaultInjectingFileOps ops;
  auto s = WalStore::Open({.dir = dir.path(), .ops = &ops});
  ASSERT_TRUE(s.ok());
  std::vector<uint64_t> lsns;
  std::string raw = Batch(1, 4, &lsns);
  ops.FailAfter(FaultInjectingFileOps::Op::kSync, 0, EIO);
  EXPECT_FALSE(Feed(**s, raw, 1, 4).ok());
  EXPECT_EQ((*s)->flushed_lsn(), 0u);
  EXPECT_TRUE((*s)->failed());
  ops.Clear();
  EXPECT_FALSE((*s)->Flush().ok());
  EXPECT_EQ((*s)->flushed_lsn(), 0u);
}

TEST(Identity, WrittenAsAiondbDoes) {
  TempDir dir;
  ASSERT_TRUE(WriteAiondbIdentity(dir.path(), 123456789, 3).ok());
  std::ifstream a(dir.Join("replication/system_id"));
  std::string s((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s, "123456789");
  std::ifstream b(dir.Join("replication/timeline"));
  std::string t((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
  EXPECT_EQ(t, "3");
}

}  // namespace
}  // namespace walrep::aiondb
