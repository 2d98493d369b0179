#include "replay/wal_decoder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replay/wal_decoder_test_util.h"
#include "replay/wal_test_builder.h"

namespace walrep::wal_decoder_testing {
namespace {

TEST(WalDecoderTest, DecodesEveryRecordWhateverTheFeedSplit) {
  std::vector<Lsn> starts;
  WalTestBuilder b = Varied(&starts);
  std::string wal = b.PaddedToSegment();
  for (size_t chunk : {size_t{1} << 30, size_t{8192}, size_t{1000}, size_t{7}, size_t{1}}) {
    for (bool retain : {true, false}) {
      if (chunk == 1 && retain) continue;  // same paths as 7, quadratic assembly
      SCOPED_TRACE(testing::Message() << "chunk " << chunk << " retain " << retain);
      Decoded d = Decode(wal, b.start(), chunk, retain);
      ASSERT_EQ(d.records.size(), starts.size()) << WalStopName(d.stop) << " at " << d.stop_lsn.ToString() << " " << d.message;
      for (size_t i = 0; i < starts.size(); ++i) {
        EXPECT_EQ(d.records[i].lsn, starts[i]);
        if (i > 0) {
          EXPECT_EQ(d.records[i].prev, starts[i - 1]);
        }
      }
      EXPECT_EQ(d.stop, WalStop::kEndOfWal);
      EXPECT_EQ(d.last_end, b.end());
      EXPECT_EQ(d.stop_lsn, b.end());
    }
  }
}

TEST(WalDecoderTest, RecordEndIsMaxAlignedAndNextRecordFollows) {
  WalTestBuilder b({.segment_size = kSeg});
  Lsn a = b.Add(10, 0, 1, "abc");  // 24 + 2 + 3 = 29 bytes -> 32
  Lsn c = b.Add(10, 0, 2, "d");
  Decoded d = Decode(b.PaddedToSegment(), b.start(), 1 << 20);
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].lsn, a);
  EXPECT_EQ(d.records[0].tot_len, 29u);
  EXPECT_EQ(d.records[0].end, a + 32);
  EXPECT_EQ(d.records[1].lsn, c);
  EXPECT_EQ(d.records[1].main_data_len, 1u);
}

TEST(WalDecoderTest, MainDataIsExposedInRetainMode) {
  WalTestBuilder b({.segment_size = kSeg});
  std::string big(3000, 'q');
  b.Add(1, 0, 9, "short");
  b.Add(1, 0, 9, big);
  WalDecoder d(Opts());
  d.ResetAtRecord(b.start(), Lsn());
  const std::string wal = b.PaddedToSegment();
  d.Feed(wal);
  WalRecord r;
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord);
  EXPECT_EQ(r.main_data, "short");
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord);
  EXPECT_EQ(r.main_data, big);
  EXPECT_EQ(r.bytes.size(), r.tot_len);
}

TEST(WalDecoderTest, NothingIsReturnedBeforeTheWholeRecordArrived) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, std::string(10000, 'p'));
  const std::string& wal = b.bytes();
  WalDecoder d(Opts(false));
  d.ResetAtRecord(b.start(), Lsn());
  d.Feed(absl::string_view(wal).substr(0, wal.size() - 1));
  WalRecord r;
  EXPECT_EQ(d.Next(&r), WalDecoder::Result::kNeedMore);
  EXPECT_EQ(d.last_end(), b.start());
  d.Feed(absl::string_view(wal).substr(wal.size() - 1));
  // The record's last data byte is in; its alignment padding is not yet.
  WalDecoder::Result res = d.Next(&r);
  if (res == WalDecoder::Result::kNeedMore) {
    d.Feed(std::string(b.end().value() - b.start().value() - wal.size(), '\0'));
    res = d.Next(&r);
  }
  ASSERT_EQ(res, WalDecoder::Result::kRecord);
  EXPECT_EQ(d.last_end(), b.end());
}

TEST(WalDecoderTest, SwitchSkipsTheRestOfTheSegment) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, "before");
  Lsn sw = b.AddSwitch();
  Lsn after = b.Add(10, 0, 2, "after");
  Decoded d = Decode(b.PaddedToSegment(), b.start(), 4096);
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[1].lsn, sw);
  EXPECT_TRUE(d.records[1].is_switch());
  EXPECT_EQ(d.records[1].end, Lsn(2 * kSeg));
  EXPECT_EQ(d.records[2].lsn, after);
  EXPECT_EQ(after, Lsn(2 * kSeg + kLongPageHeaderSize));
  EXPECT_EQ(d.records[2].prev, sw);
}

TEST(WalDecoderTest, ResetAtPageSkipsTheContinuation) {
  std::vector<Lsn> starts;
  WalTestBuilder b = Varied(&starts);
  std::string wal = b.PaddedToSegment();
  // The segment-spanning record's continuation fills the next segment's first pages.
  const Lsn seg2(2 * kSeg);
  WalDecoder d(Opts());
  d.ResetAtPage(seg2);
  d.Feed(absl::string_view(wal).substr(seg2.value() - b.start().value()));
  WalRecord r;
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord) << d.stop_message();
  size_t i = 0;
  while (starts[i] < seg2) ++i;
  EXPECT_EQ(r.lsn, starts[i]);
}

TEST(WalDecoderTest, BlockHeadersGiveImageAndDataSizes) {
  std::string body;
  auto u8 = [&](uint8_t v) { body.push_back(static_cast<char>(v)); };
  auto u16 = [&](uint16_t v) { u8(v & 0xFF); u8(v >> 8); };
  auto u32 = [&](uint32_t v) { u16(v & 0xFFFF); u16(v >> 16); };
  // block 0: image with a hole, and 6 bytes of data
  u8(0); u8(0x10 | 0x20); u16(6);
  u16(8000); u16(100); u8(0x01 | 0x02);  // 15+: HAS_HOLE | APPLY
  u32(1663); u32(5); u32(16384); u32(7);
  // block 1: same relation, data only
  u8(1); u8(0x80 | 0x20); u16(3); u32(8);
  u8(255); u8(4);  // main data
  body += std::string(8000, 'I') + "dddddd" + "eee" + "main";
  WalTestBuilder b({.segment_size = kSeg});
  b.AddRaw(10, 0, 1, body);
  WalDecoder d(Opts());
  d.ResetAtRecord(b.start(), Lsn());
  d.Feed(b.bytes());
  WalRecord r;
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord) << d.stop_message();
  ASSERT_EQ(r.blocks.size(), 2u);
  EXPECT_EQ(r.fpi_len, 8000u);
  EXPECT_TRUE(r.blocks[0].has_image);
  EXPECT_TRUE(r.blocks[0].apply_image);
  EXPECT_EQ(r.blocks[0].hole_length, 192u);
  EXPECT_EQ(r.blocks[0].rel, 16384u);
  EXPECT_EQ(r.blocks[1].rel, 16384u);
  EXPECT_EQ(r.blocks[1].block, 8u);
  EXPECT_EQ(r.main_data, "main");

  // The same record with a length that does not add up is refused.
  std::string bad = body;
  bad[2] = 7;  // block 0 claims 7 data bytes
  WalTestBuilder b2({.segment_size = kSeg});
  b2.AddRaw(10, 0, 1, bad);
  WalDecoder e(Opts());
  e.ResetAtRecord(b2.start(), Lsn());
  e.Feed(b2.bytes());
  EXPECT_EQ(e.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(e.stop(), WalStop::kBadBlockHeader);
  // Without retain the block headers are not looked at.
  WalDecoder f(Opts(false));
  f.ResetAtRecord(b2.start(), Lsn());
  f.Feed(b2.bytes());
  EXPECT_EQ(f.Next(&r), WalDecoder::Result::kRecord);
}

// An FPI-bearing heap record (8000-byte image, 6 data bytes, main data "main") crossing a
// page, of rmgr `rmid`.
std::string ImageRecordBody() {
  std::string body;
  auto u8 = [&](uint8_t v) { body.push_back(static_cast<char>(v)); };
  auto u16 = [&](uint16_t v) { u8(v & 0xFF); u8(v >> 8); };
  auto u32 = [&](uint32_t v) { u16(v & 0xFFFF); u16(v >> 16); };
  u8(0); u8(0x10 | 0x20); u16(6);
  u16(8000); u16(100); u8(0x01 | 0x02);
  u32(1663); u32(5); u32(16384); u32(7);
  u8(255); u8(4);
  body += std::string(8000, 'I') + "dddddd" + "main";
  return body;
}

TEST(WalDecoderTest, RecordsOfRmgrsNotKeptLeaveTheirBodyOutOnlyInVerifiedInput) {
  WalTestBuilder b({.segment_size = kSeg});
  b.Add(10, 0, 1, std::string(1000, 's'));  // whole on its page; the next one crosses it
  const Lsn heap = b.AddRaw(10, 0, 2, ImageRecordBody());
  const Lsn commit = b.Add(1, 0, 3, std::string(9000, 'c'));  // xact, crosses a page
  const Lsn heap2 = b.AddRaw(10, 0, 4, ImageRecordBody());
  b.Add(10, 0, 5, "tail");  // heap2's padding comes with it
  const std::string wal = b.bytes();
  const uint64_t s0 = b.start().value();
  WalDecoder::Options o = Opts();
  o.keep_body.reset();
  for (uint8_t info = 0; info < 16; ++info) o.keep_body.set(BodyKind(1, info << 4));  // xact only
  // Returns the records' (bytes size, main_data, fpi_len, blocks) fed in `chunk` pieces,
  // those below `verified_below` as verified.
  struct Seen {
    Lsn lsn;
    size_t bytes;
    std::string main_data;
    uint32_t main_data_len, fpi_len;
    size_t blocks;
  };
  auto run = [&](size_t chunk, size_t verified_below) {
    WalDecoder d(o);
    d.ResetAtRecord(b.start(), Lsn());
    std::vector<Seen> seen;
    size_t off = 0;
    for (;;) {
      WalRecord r;
      WalDecoder::Result res = d.Next(&r);
      if (res == WalDecoder::Result::kRecord) {
        seen.push_back({r.lsn, r.bytes.size(), std::string(r.main_data), r.main_data_len,
                        r.fpi_len, r.blocks.size()});
        continue;
      }
      EXPECT_EQ(res, WalDecoder::Result::kNeedMore) << d.stop_message();
      if (off >= wal.size()) break;
      const size_t n = std::min(chunk, wal.size() - off);
      d.Feed(absl::string_view(wal).substr(off, n), off < verified_below);
      off += n;
    }
    return seen;
  };
  // All verified, fed at once: the heap records crossing pages come without their body,
  // their headers decoded all the same; the small one and the commit are whole.
  std::vector<Seen> v = run(wal.size(), wal.size());
  ASSERT_GE(v.size(), 4u);
  EXPECT_GT(v[0].bytes, 0u);
  EXPECT_EQ(v[1].lsn, heap);
  EXPECT_EQ(v[1].bytes, 0u);
  EXPECT_EQ(v[1].main_data, "");
  EXPECT_EQ(v[1].main_data_len, 4u);
  EXPECT_EQ(v[1].fpi_len, 8000u);
  EXPECT_EQ(v[1].blocks, 1u);
  EXPECT_EQ(v[2].lsn, commit);
  EXPECT_EQ(v[2].main_data, std::string(9000, 'c'));
  EXPECT_EQ(v[3].lsn, heap2);
  EXPECT_EQ(v[3].bytes, 0u);
  EXPECT_EQ(v[3].fpi_len, 8000u);
  // Unverified input: every record whole (the CRC needs every byte).
  std::vector<Seen> u = run(wal.size(), 0);
  ASSERT_EQ(u.size(), v.size());
  EXPECT_EQ(u[1].main_data, "main");
  EXPECT_EQ(u[3].main_data, "main");
  // Verified, but fed in pieces that end inside the heap records: a record not yet fed
  // to its end when its header is read is kept whole; the decoded fields never differ.
  std::vector<Seen> p = run(4096, wal.size());
  ASSERT_EQ(p.size(), v.size());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i].lsn, u[i].lsn);
    EXPECT_EQ(p[i].main_data_len, u[i].main_data_len);
    EXPECT_EQ(p[i].fpi_len, u[i].fpi_len);
    EXPECT_EQ(p[i].blocks, u[i].blocks);
    if (p[i].bytes > 0) {
      EXPECT_EQ(p[i].main_data, u[i].main_data);
    }
  }
  EXPECT_EQ(p[1].main_data, "main");  // its header came with the first 4 KiB only
  // Damage inside the left-out image of a verified record is not looked for, as for any
  // verified record; the same damage in unverified input stops at the record.
  std::string bad = wal;
  bad[heap.value() - s0 + 3000] ^= 0x5A;
  WalDecoder d(o);
  d.ResetAtRecord(b.start(), Lsn());
  d.Feed(bad, false);
  WalRecord r;
  ASSERT_EQ(d.Next(&r), WalDecoder::Result::kRecord);
  EXPECT_EQ(d.Next(&r), WalDecoder::Result::kStop);
  EXPECT_EQ(d.stop(), WalStop::kBadCrc);
  EXPECT_EQ(d.stop_lsn(), heap);
}

TEST(WalDecoderTest, BlockHeadersOfAPartlyKeptRecordAreCheckedAsWhole) {
  // A record whose headers claim more than is kept is refused, never read past its bytes.
  std::string body = ImageRecordBody();
  WalRecord r;
  std::string why;
  std::string rec(kRecordHeaderSize, '\0');
  rec += body;
  const uint32_t tot = static_cast<uint32_t>(rec.size());
  EXPECT_EQ(DecodeRecordBlocks(rec.substr(0, kRecordHeadersMax), 15, &r, &why, tot),
            WalStop::kNone) << why;
  EXPECT_EQ(r.fpi_len, 8000u);
  EXPECT_EQ(r.main_data_len, 4u);
  EXPECT_TRUE(r.main_data.empty());
  // Exactly its headers are enough; one byte fewer is not.
  size_t headers = 0;
  ASSERT_EQ(DecodeBlockHeaders(body.substr(0, 200), body.size(), 15, &r, &why, &headers),
            WalStop::kNone) << why;
  EXPECT_GT(headers, 20u);
  EXPECT_LT(headers, 100u);
  EXPECT_EQ(DecodeRecordBlocks(rec.substr(0, kRecordHeaderSize + headers), 15, &r, &why, tot),
            WalStop::kNone) << why;
  EXPECT_EQ(r.fpi_len, 8000u);
  EXPECT_EQ(DecodeRecordBlocks(rec.substr(0, kRecordHeaderSize + headers - 1), 15, &r, &why, tot),
            WalStop::kBadBlockHeader);
  // Headers that run on past kRecordHeadersMax (here: 0xFF-free garbage of block ids in
  // order would need > 33 blocks) are refused.
  std::string junk(kRecordHeaderSize, '\0');
  for (int id = 0; id <= 32; ++id) {
    junk += static_cast<char>(id);
    junk += '\x10';  // image, no data
    junk += std::string(2, '\0');
    junk += std::string("\x00\x20\x00\x00\x00", 5);  // image_len 8192, no hole
    junk += std::string(16, '\1');
  }
  junk.resize(kRecordHeadersMax);
  EXPECT_EQ(DecodeRecordBlocks(junk, 15, &r, &why, 1 << 20), WalStop::kBadBlockHeader);
}

TEST(WalDecoderTest, MagicOfEveryVersion) {
  for (uint16_t m : {0xD101, 0xD106, 0xD10D, 0xD110, 0xD113, 0xD116}) {
    EXPECT_NE(PostgresMajorForMagic(m), 0);
    WalTestBuilder b({.segment_size = kSeg, .magic = m});
    b.Add(10, 0, 1, "v");
    Decoded d = Decode(b.PaddedToSegment(), b.start(), 1 << 20);
    EXPECT_EQ(d.records.size(), 1u) << m;
  }
  EXPECT_EQ(PostgresMajorForMagic(0xD100), 0);
}

}  // namespace
}  // namespace walrep::wal_decoder_testing
