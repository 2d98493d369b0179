// WalDecoder on WAL that breaks: a damaged payload or header field, damaged page headers,
// another system or segment size, a broken prev link, verified input (the CRC skipped only
// for records wholly in it), and an overwrite contrecord abandoning a cut record — each a
// typed stop at the last good record.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replay/wal_decoder.h"
#include "replay/wal_decoder_test_util.h"
#include "replay/wal_test_builder.h"

namespace walrep::wal_decoder_testing {
namespace {

std::string Damaged(std::string wal, uint64_t at_offset) {
  wal[at_offset] ^= 0x40;
  return wal;
}

TEST(WalDecoderTest, CorruptPayloadStopsAtTheRecordBefore) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "one");
  Lsn two = b.Add(10, 0, 2, "two two two");
  b.Add(10, 0, 3, "three");
  std::string wal = Damaged(b.PaddedToSegment(), two.value() - b.start().value() + 27);
  Decoded d = Decode(wal, b.start(), 1 << 20);
  EXPECT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.stop, WalStop::kBadCrc);
  EXPECT_EQ(d.stop_lsn, two);
  EXPECT_EQ(d.last_end, two);
}

TEST(WalDecoderTest, VerifiedInputSkipsTheCrcOnlyForRecordsWhollyInIt) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "one");
  const Lsn small = b.Add(10, 0, 2, "two two two");
  const Lsn big = b.Add(10, 0, 3, std::string(20000, 'b'));  // spans pages
  const Lsn last = b.Add(10, 0, 4, "four");
  const uint64_t s0 = b.start().value();
  // Both damaged in their payload (the CRC alone can tell).
  std::string wal = Damaged(b.PaddedToSegment(), small.value() - s0 + 27);
  wal = Damaged(wal, big.value() - s0 + 12000);
  // All verified: the damage is not looked for (the writer's decoder had checked the
  // bytes it kept); whole records and records assembled across pages alike.
  Decoded all = Decode(wal, b.start(), 4096, true, wal.size());
  ASSERT_EQ(all.records.size(), 4u);
  EXPECT_EQ(all.records[3].lsn, last);
  // Verified input ends inside the big record: it is checked, from its retained bytes.
  Decoded mixed = Decode(wal, b.start(), 4096, true, big.value() - s0 + 8192);
  EXPECT_EQ(mixed.records.size(), 2u);
  EXPECT_EQ(mixed.stop, WalStop::kBadCrc);
  EXPECT_EQ(mixed.stop_lsn, big);
  // Unverified input first: the small record is checked.
  Decoded none = Decode(wal, b.start(), 4096, true, 0);
  EXPECT_EQ(none.records.size(), 1u);
  EXPECT_EQ(none.stop, WalStop::kBadCrc);
  EXPECT_EQ(none.stop_lsn, small);
  // Unverified, then verified from inside the big record on: it began outside the run.
  WalTestBuilder c({.segment_size = kSeg});
  c.Add(10, 0, 1, "one");
  const Lsn big2 = c.Add(10, 0, 3, std::string(20000, 'b'));
  c.Add(10, 0, 4, "four");
  const uint64_t c0 = c.start().value();
  const std::string wal2 = Damaged(c.PaddedToSegment(), big2.value() - c0 + 15000);
  WalDecoder d(Opts(true));
  d.ResetAtRecord(c.start(), Lsn());
  const size_t split = big2.value() - c0 + 100;
  d.Feed(absl::string_view(wal2).substr(0, split), false);
  d.Feed(absl::string_view(wal2).substr(split), true);
  WalRecord r;
  EXPECT_EQ(d.Next(&r), WalDecoder::Result::kRecord);
  EXPECT_EQ(d.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(d.stop(), WalStop::kBadCrc);
  EXPECT_EQ(d.stop_lsn(), big2);
}

TEST(WalDecoderTest, CorruptHeaderFieldsAreTyped) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "one");
  Lsn two = b.Add(10, 0, 2, "two");
  const uint64_t off = two.value() - b.start().value();
  std::string wal = b.PaddedToSegment();
  {
    std::string w = wal;
    w[off + 17] = static_cast<char>(60);  // rmid
    EXPECT_EQ(Decode(w, b.start(), 1 << 20).stop, WalStop::kBadRmgr);
  }
  {
    std::string w = wal;
    w[off + 8] ^= 0x08;  // xl_prev
    EXPECT_EQ(Decode(w, b.start(), 1 << 20).stop, WalStop::kBadPrevLink);
  }
  {
    std::string w = wal;
    w[off] = 5;  // xl_tot_len 5
    w[off + 1] = w[off + 2] = w[off + 3] = 0;
    EXPECT_EQ(Decode(w, b.start(), 1 << 20).stop, WalStop::kBadRecordLength);
  }
  {
    std::string w = wal;
    w[off + 16] ^= 1;  // xl_info is covered by the CRC
    EXPECT_EQ(Decode(w, b.start(), 1 << 20).stop, WalStop::kBadCrc);
  }
}

TEST(WalDecoderTest, CorruptPageHeadersAreTyped) {
  WalTestBuilder b({.segment_size = kSeg});
  while (b.end().value() < b.start().value() + 3 * kWalPageSize) b.Add(10, 0, 1, std::string(300, 'r'));
  std::string wal = b.PaddedToSegment();
  const uint64_t p = kWalPageSize;  // the second page of the segment
  auto stop_of = [&](std::string w) { return Decode(w, b.start(), 1 << 20); };
  {
    std::string w = wal;
    w[p] = 0x01;  // magic
    Decoded d = stop_of(w);
    EXPECT_EQ(d.stop, WalStop::kBadMagic);
    EXPECT_EQ(d.stop_lsn, b.start() + p);
  }
  {
    std::string w = wal;
    w[p + 9] ^= 0x01;  // pageaddr
    EXPECT_EQ(stop_of(w).stop, WalStop::kBadPageAddress);
  }
  {
    std::string w = wal;
    w[p + 4] = 0;  // tli 1 -> 0: goes back
    EXPECT_EQ(stop_of(w).stop, WalStop::kBadTimeline);
  }
  {
    std::string w = wal;
    w[p + 2] = 0x40;  // unknown info bit
    EXPECT_EQ(stop_of(w).stop, WalStop::kBadPageHeader);
  }
  {
    std::string w = wal;
    w[p + 16] ^= 0x01;  // xlp_rem_len disagrees with the continued record
    EXPECT_EQ(stop_of(w).stop, WalStop::kMissingContrecord);
  }
  {
    std::string w = wal;
    w[p + 2] &= ~0x01;  // continued record without XLP_FIRST_IS_CONTRECORD
    EXPECT_EQ(stop_of(w).stop, WalStop::kMissingContrecord);
  }
  {
    std::string w = wal;
    std::fill(w.begin() + p, w.begin() + p + 24, '\0');  // a zero page ends the WAL
    Decoded d = stop_of(w);
    EXPECT_EQ(d.stop, WalStop::kEndOfWal);
    EXPECT_EQ(d.last_end, d.stop_lsn);  // before the record cut off
  }
  {
    std::string w = wal;
    w[36] ^= 1;  // long header's block size
    EXPECT_EQ(stop_of(w).stop, WalStop::kBadPageHeader);
  }
}

TEST(WalDecoderTest, SystemIdentifierAndSegmentSizeAreChecked) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "x");
  WalDecoder::Options o = Opts();
  o.system_id = 42;
  WalDecoder d(o);
  d.ResetAtRecord(b.start(), Lsn());
  d.Feed(b.bytes());
  WalRecord r;
  EXPECT_EQ(d.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(d.stop(), WalStop::kBadPageHeader);

  o.system_id = 0;
  o.segment_size = kSeg * 2;
  WalDecoder e(o);
  e.ResetAtRecord(Lsn(2 * kSeg * 1), Lsn());
  WalTestBuilder b2({.segment_size = kSeg, .start = 2 * kSeg});
  b2.Add(10, 0, 1, "x");
  e.Feed(b2.bytes());
  EXPECT_EQ(e.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(e.stop(), WalStop::kBadPageHeader);
}

TEST(WalDecoderTest, PrevLinkCheckedFromResetPosition) {
  WalTestBuilder b({.segment_size = kSeg});
  Lsn one = b.Add(10, 0, 1, "one");
  Lsn two = b.Add(10, 0, 2, "two");
  b.Add(10, 0, 3, "three");
  const std::string& wal = b.bytes();
  const uint64_t off = two.value() - b.start().value();
  WalDecoder d(Opts());
  d.ResetAtRecord(two, one);
  d.Feed(absl::string_view(wal).substr(off));
  WalRecord r;
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord);
  EXPECT_EQ(r.lsn, two);
  WalDecoder e(Opts());
  e.ResetAtRecord(two, two);  // wrong expectation
  e.Feed(absl::string_view(wal).substr(off));
  EXPECT_EQ(e.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(e.stop(), WalStop::kBadPrevLink);
}

TEST(WalDecoderTest, OverwriteContrecordAbandonsTheCutRecord) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "one");
  Lsn cut = b.Add(10, 0, 2, std::string(10000, 'c'));  // continues onto page 2
  std::string wal = b.bytes();
  // Page 2 rewritten: no continuation, the overwrite flag, a fresh record.
  WalTestBuilder other({.segment_size = kSeg});
  wal.resize(kWalPageSize);
  std::string page2(kWalPageSize, '\0');
  // Build page 2 by hand: short header with XLP_FIRST_IS_OVERWRITE_CONTRECORD.
  auto put = [&](size_t o, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) page2[o + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  put(0, 0xD110, 2);
  put(2, kXlpFirstIsOverwriteContrecord, 2);
  put(4, 1, 4);
  put(8, b.start().value() + kWalPageSize, 8);
  // One record at offset 24, taken from another builder's first record body.
  WalTestBuilder rec({.segment_size = kSeg});
  rec.Add(0, 0xD0, 0, "overwrite");  // XLOG_OVERWRITE_CONTRECORD-like
  std::string r = rec.bytes().substr(kLongPageHeaderSize, 24 + 2 + 9);
  std::copy(r.begin(), r.end(), page2.begin() + 24);
  wal += page2;
  Decoded d = Decode(wal, b.start(), 1 << 20);
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[1].lsn, b.start() + kWalPageSize + 24);
  EXPECT_LT(d.records[0].lsn, cut);
}

}  // namespace
}  // namespace walrep::wal_decoder_testing
