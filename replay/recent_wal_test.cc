#include "replay/recent_wal.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string Pattern(size_t n, uint64_t from) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) * 31 % 251);
  return s;
}

std::string ReadString(const RecentWal& r, uint64_t pos, size_t n) {
  std::string out(n, '\0');
  out.resize(r.Read(Lsn(pos), n, out.data(), 1));
  return out;
}

TEST(RecentWalTest, HoldsTheNewestCapacityBytesAcrossTheWrap) {
  RecentWal r(1000);
  EXPECT_EQ(ReadString(r, 0, 10), "");  // empty
  uint64_t pos = 5000;
  for (size_t n : {300, 450, 100, 999, 7}) {
    r.Append(Lsn(pos), Pattern(n, pos), 1);
    pos += n;
  }
  // [pos - 1000, pos) is held, in order across the ring's end.
  EXPECT_EQ(ReadString(r, pos - 1000, 1000), Pattern(1000, pos - 1000));
  EXPECT_EQ(ReadString(r, pos - 10, 100), Pattern(10, pos - 10));  // only what exists
  EXPECT_EQ(ReadString(r, pos - 1001, 10), "");  // overwritten
  EXPECT_EQ(ReadString(r, pos, 10), "");         // not written yet
}

TEST(RecentWalTest, AnAppendElsewhereStartsTheRingAgain) {
  RecentWal r(1000);
  r.Append(Lsn(100), Pattern(500, 100), 1);
  // Re-sent from an earlier position (a session resumed at the durable record end).
  r.Append(Lsn(300), Pattern(50, 300), 1);
  EXPECT_EQ(ReadString(r, 100, 10), "");
  EXPECT_EQ(ReadString(r, 300, 100), Pattern(50, 300));
  r.Reset();
  EXPECT_EQ(ReadString(r, 300, 10), "");
  // One append larger than the ring keeps its newest bytes.
  r.Append(Lsn(10000), Pattern(2500, 10000), 1);
  EXPECT_EQ(ReadString(r, 11500, 1000), Pattern(1000, 11500));
  EXPECT_EQ(ReadString(r, 11499, 1), "");
  // A reader of another timeline gets nothing, and an append on a new timeline at the
  // same position starts the ring again.
  std::string other(10, '\0');
  EXPECT_EQ(r.Read(Lsn(11500), 10, other.data(), 2), 0u);
  r.Append(Lsn(12500), Pattern(10, 12500), 2);
  EXPECT_EQ(ReadString(r, 11500, 10), "");
  EXPECT_EQ(r.Read(Lsn(12500), 10, other.data(), 2), 10u);
}

TEST(RecentWalTest, AnEmptyAppendHoldsNothingAndBreaksNothing) {
  RecentWal r(1000);
  r.Append(Lsn(100), "", 1);  // on an empty ring: no chunk to trim
  EXPECT_EQ(ReadString(r, 100, 10), "");
  r.Append(Lsn(100), Pattern(20, 100), 1);
  r.Append(Lsn(120), "", 1);  // at the end: the held bytes stay
  EXPECT_EQ(ReadString(r, 100, 30), Pattern(20, 100));
}

// A view is the ring's own memory, and keeps its bytes while held: the writer moving past
// the capacity, starting again at the same position, or a Reset does not change them.
TEST(RecentWalTest, AViewKeepsItsBytesWhateverTheWriterDoes) {
  RecentWal r(4096, 1024);
  r.Append(Lsn(1000), Pattern(3000, 1000), 1);
  RecentWal::View v = r.ReadView(Lsn(1500), 4000, 1);
  // Up to the end of the chunk holding 1500 ([1024, 2048)), no further.
  EXPECT_EQ(v.bytes, Pattern(548, 1500));
  EXPECT_EQ(r.ReadView(Lsn(999), 10, 1).bytes, "");
  EXPECT_EQ(r.ReadView(Lsn(1500), 10, 2).bytes, "");
  // Re-sent from an earlier position with other bytes, then far past the capacity.
  r.Append(Lsn(1200), std::string(1000, 'x'), 1);
  EXPECT_EQ(r.ReadView(Lsn(1500), 10, 1).bytes, std::string(10, 'x'));
  for (uint64_t pos = 2200; pos < 40000; pos += 700) r.Append(Lsn(pos), Pattern(700, pos), 1);
  r.Reset();
  EXPECT_EQ(v.bytes, Pattern(548, 1500));
}

}  // namespace
}  // namespace walrep
