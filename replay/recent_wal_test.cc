#include "replay/recent_wal.h"

#include <algorithm>
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

// Space is the memory the next Append at the ring's end fills: bytes received there are
// taken in place, across chunk ends, and are invisible to readers until taken.
TEST(RecentWalTest, BytesReceivedIntoSpaceAreTakenInPlace) {
  RecentWal r(4096, 1024);
  EXPECT_TRUE(r.Space(Lsn(1000), 100, 1).empty());  // an empty ring continues nothing
  r.Append(Lsn(1000), Pattern(500, 1000), 1);
  EXPECT_TRUE(r.Space(Lsn(1400), 100, 1).empty());  // not the end
  EXPECT_TRUE(r.Space(Lsn(1500), 100, 2).empty());  // another timeline
  uint64_t pos = 1500;
  for (size_t n : {300, 248, 1024, 700, 2000}) {
    size_t done = 0;
    while (done < n) {
      absl::Span<char> s = r.Space(Lsn(pos + done), n - done, 1);
      ASSERT_FALSE(s.empty()) << pos + done;
      // Never past a chunk's end: [1024, 2048), [2048, 3072), ...
      EXPECT_LE((pos + done) % 1024 + s.size(), 1024u) << pos + done;
      const std::string want = Pattern(s.size(), pos + done);
      std::copy(want.begin(), want.end(), s.begin());
      EXPECT_EQ(ReadString(r, pos + done, 10), "");  // received, not taken
      r.Append(Lsn(pos + done), absl::string_view(s.data(), s.size()), 1);
      done += s.size();
    }
    pos += n;
  }
  EXPECT_EQ(ReadString(r, pos - 4096, 4096), Pattern(4096, pos - 4096));
  // Space the writer did not use is filled by an ordinary Append as before.
  ASSERT_EQ(r.Space(Lsn(pos), 50, 1).size(), 50u);
  r.Append(Lsn(pos), Pattern(80, pos), 1);
  EXPECT_EQ(ReadString(r, pos - 100, 180), Pattern(180, pos - 100));
}

}  // namespace
}  // namespace walrep
