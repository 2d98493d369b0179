#include "wire/replication_messages.h"

#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

TEST(PostgresTimeTest, EpochAndRoundTrip) {
  EXPECT_EQ(ToPostgresMicros(absl::FromUnixSeconds(946684800)), 0);
  EXPECT_EQ(FromPostgresMicros(0), absl::FromUnixSeconds(946684800));
  absl::Time t = absl::FromUnixMicros(1700000000123456);
  EXPECT_EQ(FromPostgresMicros(ToPostgresMicros(t)), t);
  EXPECT_EQ(ToPostgresMicros(absl::UnixEpoch()), -946684800LL * 1000000);
}

TEST(PostgresTimeTest, Saturates) {
  EXPECT_EQ(ToPostgresMicros(absl::InfiniteFuture()), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ToPostgresMicros(absl::InfinitePast()), std::numeric_limits<int64_t>::min());
  // Extreme inputs must not overflow.
  (void)FromPostgresMicros(std::numeric_limits<int64_t>::max());
  (void)FromPostgresMicros(std::numeric_limits<int64_t>::min());
}

TEST(XLogDataTest, RoundTrip) {
  std::string wal = "\x01\x02\x00wal"s;
  XLogData m{Lsn(0x100000000), Lsn(0x200000000), 42, wal};
  std::string payload = EncodeXLogData(m);
  EXPECT_EQ(payload.size(), kXLogDataHeaderSize + wal.size());
  EXPECT_EQ(payload.substr(0, 9), "w\0\0\0\1\0\0\0\0"s);
  auto d = DecodeXLogData(payload);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->start, m.start);
  EXPECT_EQ(d->wal_end, m.wal_end);
  EXPECT_EQ(d->send_time, 42);
  EXPECT_EQ(d->data, wal);
}

TEST(XLogDataTest, EmptyWalAllowed) {
  auto d = DecodeXLogData(EncodeXLogData(XLogData{Lsn(1), Lsn(1), 0, ""}));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->data.empty());
}

TEST(XLogDataTest, Hostile) {
  EXPECT_EQ(DecodeXLogData("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(DecodeXLogData("w"s + std::string(23, '\0')).ok());
  EXPECT_FALSE(DecodeXLogData("k"s + std::string(24, '\0')).ok());
  // Range running past 2^64.
  std::string p = EncodeXLogData(XLogData{Lsn(~uint64_t{0}), Lsn(0), 0, "ab"});
  EXPECT_EQ(DecodeXLogData(p).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(DecodeXLogData(EncodeXLogData(XLogData{Lsn(~uint64_t{0} - 1), Lsn(0), 0, "a"})).ok());
}

TEST(PrimaryKeepaliveTest, RoundTrip) {
  PrimaryKeepalive k{Lsn(0x16B3748), -5, true};
  std::string p = EncodePrimaryKeepalive(k);
  ASSERT_EQ(p.size(), kPrimaryKeepaliveSize);
  auto d = DecodePrimaryKeepalive(p);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->wal_end, k.wal_end);
  EXPECT_EQ(d->send_time, -5);
  EXPECT_TRUE(d->reply_requested);
  p.back() = 7;  // any nonzero byte means "reply"
  EXPECT_TRUE(DecodePrimaryKeepalive(p)->reply_requested);
  p.back() = 0;
  EXPECT_FALSE(DecodePrimaryKeepalive(p)->reply_requested);
}

TEST(PrimaryKeepaliveTest, Hostile) {
  std::string p = EncodePrimaryKeepalive({});
  EXPECT_FALSE(DecodePrimaryKeepalive(p.substr(0, 17)).ok());
  EXPECT_FALSE(DecodePrimaryKeepalive(p + "x").ok());
  EXPECT_FALSE(DecodePrimaryKeepalive("").ok());
}

TEST(StandbyStatusUpdateTest, RoundTripSendsPositionsAsGiven) {
  StandbyStatusUpdate u{Lsn(0x3000000), Lsn(0x2000000), Lsn(0x1000000), 99, false};
  std::string p = EncodeStandbyStatusUpdate(u);
  ASSERT_EQ(p.size(), kStandbyStatusUpdateSize);
  EXPECT_EQ(p.substr(0, 9), "r\0\0\0\0\x03\0\0\0"s);
  auto d = DecodeStandbyStatusUpdate(p);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->write, u.write);
  EXPECT_EQ(d->flush, u.flush);
  EXPECT_EQ(d->apply, u.apply);
  EXPECT_EQ(d->client_time, 99);
  EXPECT_FALSE(d->reply_requested);
  EXPECT_FALSE(DecodeStandbyStatusUpdate(p.substr(0, 33)).ok());
  EXPECT_FALSE(DecodeStandbyStatusUpdate("h" + p.substr(1)).ok());
}

TEST(HotStandbyFeedbackTest, RoundTrip) {
  HotStandbyFeedback h{123, 1000, 1, 900, 2};
  std::string p = EncodeHotStandbyFeedback(h);
  ASSERT_EQ(p.size(), kHotStandbyFeedbackSize);
  auto d = DecodeHotStandbyFeedback(p);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->client_time, 123);
  EXPECT_EQ(d->xmin, 1000u);
  EXPECT_EQ(d->xmin_epoch, 1u);
  EXPECT_EQ(d->catalog_xmin, 900u);
  EXPECT_EQ(d->catalog_xmin_epoch, 2u);
  EXPECT_FALSE(DecodeHotStandbyFeedback(p + "\0"s).ok());
}

TEST(PrimaryMessageTest, Dispatch) {
  auto w = DecodePrimaryMessage(EncodeXLogData(XLogData{Lsn(8), Lsn(16), 1, "x"}));
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(std::holds_alternative<XLogData>(*w));
  auto k = DecodePrimaryMessage(EncodePrimaryKeepalive({Lsn(8), 1, false}));
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(std::holds_alternative<PrimaryKeepalive>(*k));
  auto bad = DecodePrimaryMessage("r");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("'r'"), std::string::npos);
  EXPECT_FALSE(DecodePrimaryMessage("").ok());
  EXPECT_FALSE(DecodePrimaryMessage("k").ok());
}

}  // namespace
}  // namespace walrep
