// Unit tests of the pure aiondb codecs: envelope, entries (checksums, frames,
// compression caps), file header/names and the chain checks.
#include <variant>

#include "aiondb/chain.h"
#include "aiondb/envelope.h"
#include "aiondb/le.h"
#include "aiondb/wal_entry.h"
#include "aiondb/wal_file.h"
#include "gtest/gtest.h"

namespace walrep::aiondb {
namespace {

TEST(Envelope, StatusUpdateIs24BytesLittleEndian) {
  auto m = EncodeStatusUpdate({0x0102, 0x0101, 0x0100});
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 29u);
  EXPECT_EQ((*m)[0], 0x02);
  EXPECT_EQ(Le32(m->data() + 1), 24u);
  EXPECT_EQ(Le64(m->data() + 5), 0x0102u);
  EXPECT_EQ(Le64(m->data() + 13), 0x0101u);
  EXPECT_EQ(Le64(m->data() + 21), 0x0100u);
  EXPECT_FALSE(EncodeStatusUpdate({1, 2, 0}).ok());  // flush past write
  EXPECT_FALSE(EncodeStatusUpdate({2, 2, 3}).ok());  // apply past flush
}

TEST(Envelope, RoundTripsAndRejectsTrailingBytes) {
  auto k = DecodeMessage(EncodeKeepalive({77, 1700000000000000, true}));
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(std::holds_alternative<Keepalive>(*k));
  EXPECT_EQ(std::get<Keepalive>(*k).wal_end, 77u);
  EXPECT_TRUE(std::get<Keepalive>(*k).reply_requested);
  std::string bad = EncodeKeepalive({1, 2, false});
  bad[bad.size() - 1] = 2;
  EXPECT_EQ(DecodeMessage(bad).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMessage(EncodeKeepaliveReply({5}) + "x").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMessage(EncodeWalData(1, 1, "")).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMessage(EncodeWalData(2, 1, "e")).status().code(), absl::StatusCode::kDataLoss);
  const std::string wal = EncodeWalData(3, 4, "abc");  // the decoded view points into it
  auto w = DecodeMessage(wal);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(std::get<WalData>(*w).entries, "abc");
}

TEST(Entry, UnframedCrcAndLegacyFnv) {
  auto e = EncodeEntry(5, "\x07hello");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(Le32(e->data()), 8u + 6u + 4u);
  auto d = DecodeEntry(*e);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->lsn, 5u);
  EXPECT_FALSE((*d)->framed);
  EXPECT_EQ((*d)->record, "\x07hello");
  auto legacy = EncodeEntry(6, "\x01x", {.checksum = ChecksumKind::kLegacyFnv1a});
  auto l = DecodeEntry(*legacy);
  ASSERT_TRUE(l.ok() && l->has_value());
  EXPECT_EQ((*l)->checksum, ChecksumKind::kLegacyFnv1a);
  std::string corrupt = *e;
  corrupt[14] ^= 1;
  EXPECT_EQ(DecodeEntry(corrupt).status().code(), absl::StatusCode::kDataLoss);
  auto partial = DecodeEntry(e->substr(0, e->size() - 1));
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
  EXPECT_EQ(LegacyFnv1a(""), 0x811c9dc5u);
  EXPECT_EQ(LegacyFnv1a("a"), 0xe40c292cu);
}

TEST(Entry, FramedCompressedRoundTrip) {
  const std::string record = "\x03" + std::string(5000, 'z');
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
    auto e = EncodeEntry(9, record, {.prev_lsn = 8, .database_id = 4, .compression = c});
    ASSERT_TRUE(e.ok());
    if (c != Compression::kNone) {
      EXPECT_LT(e->size(), 200u);
    }
    auto d = DecodeEntry(*e);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->has_value());
    EXPECT_TRUE((*d)->framed);
    EXPECT_EQ((*d)->frame_version, 3);
    EXPECT_EQ((*d)->compression, c);
    EXPECT_EQ((*d)->prev_lsn, 8u);
    EXPECT_EQ((*d)->database_id, 4u);
    EXPECT_EQ((*d)->record, record);
  }
}

TEST(Entry, RatioAndSizeCaps) {
  // A framed lz4 entry claiming 1 MiB from 10 bytes: ratio over 4096.
  std::string body = "\xFF\x01\x01";
  PutLe32(&body, 1u << 20);
  body += std::string(10, 'q');
  std::string covered;
  PutLe64(&covered, 1);
  covered += body;
  std::string e;
  PutLe32(&e, static_cast<uint32_t>(covered.size() + 4));
  e += covered;
  PutLe32(&e, LegacyFnv1a(covered));
  EXPECT_EQ(DecodeEntry(e).status().code(), absl::StatusCode::kDataLoss);
}

TEST(FileHeader, LayoutAndNames) {
  std::string h = EncodeFileHeader(LsnMode::kByteOffset, 42, 3);
  ASSERT_EQ(h.size(), kFileHeaderBytes);
  EXPECT_EQ(h.substr(0, 8), "AIONWAL1");
  EXPECT_EQ(h[8], 3);
  EXPECT_EQ(h[9], 2);
  EXPECT_EQ(Le64(h.data() + 10), 42u);
  EXPECT_EQ(Le32(h.data() + 18), 3u);
  auto d = DecodeFileHeader(h);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->lsn_mode, LsnMode::kByteOffset);
  EXPECT_EQ(WalFileName(1), "wal_000000000001.log");
  EXPECT_EQ(ParseWalFileName("wal_000000000012.log"), 12u);
  EXPECT_FALSE(ParseWalFileName("wal_x.log").has_value());
}

std::string Entries(std::vector<uint64_t> lsns, bool chain_prev) {
  std::string out;
  uint64_t prev = 0;
  for (uint64_t l : lsns) {
    out += *EncodeEntry(l, "\x05row", {.prev_lsn = chain_prev ? prev : 0});
    prev = l;
  }
  return out;
}

TEST(Chain, LogicalAndByteOffsetAndGaps) {
  ChainState s;
  auto b = CheckWalData(s, {1, 3, Entries({1, 2, 3}, true)});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->after.mode, LsnMode::kLogical);
  EXPECT_EQ(b->after.last_lsn, 3u);
  EXPECT_EQ(b->after.resume_lsn(), 4u);
  EXPECT_EQ(CheckWalData(b->after, {5, 5, Entries({5}, false)}).status().code(),
            absl::StatusCode::kDataLoss);
  // The entry resent (aiondb's own client's resume) is a gap too.
  EXPECT_FALSE(CheckWalData(b->after, {3, 3, Entries({3}, false)}).ok());
  // start/end must name the entries.
  EXPECT_FALSE(CheckWalData(s, {1, 2, Entries({1}, false)}).ok());
  // ByteOffset: +encoded size.
  const size_t len = EncodeEntry(1, "\x05row")->size();
  auto bo = CheckWalData(s, {1, 1 + len, Entries({1, 1 + len}, false)});
  ASSERT_TRUE(bo.ok()) << bo.status();
  EXPECT_EQ(bo->after.mode, LsnMode::kByteOffset);
  // A broken prev chain.
  std::string broken = *EncodeEntry(1, "\x05r") + *EncodeEntry(2, "\x05r", {.prev_lsn = 7});
  EXPECT_FALSE(CheckWalData(s, {1, 2, broken}).ok());
}

}  // namespace
}  // namespace walrep::aiondb
