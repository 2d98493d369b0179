#include "wire/framing.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string Header(char type, uint32_t length) {
  std::string s(1, type);
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(length >> shift));
  return s;
}

TEST(FramingTest, DecodesCompleteMessage) {
  std::string buf = EncodeFrame('Z', "I") + "trailing";
  auto f = DecodeFrame(buf);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->type, 'Z');
  EXPECT_EQ(f->body, "I");
  EXPECT_EQ(f->consumed, 6u);
}

TEST(FramingTest, EmptyBody) {
  auto f = DecodeFrame(EncodeFrame('c', ""));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->body, "");
  EXPECT_EQ(f->consumed, 5u);
}

TEST(FramingTest, ConsecutiveMessages) {
  std::string buf = EncodeFrame('S', std::string("a\0b\0", 4)) + EncodeFrame('Z', "T");
  auto first = DecodeFrame(buf);
  ASSERT_TRUE(first.ok());
  auto second = DecodeFrame(absl::string_view(buf).substr(first->consumed));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->type, 'Z');
  EXPECT_EQ(second->body, "T");
}

TEST(FramingTest, TruncatedHeaderNeedsFiveBytes) {
  for (size_t n = 0; n < 5; ++n) {
    std::string buf = Header('D', 10).substr(0, n);
    auto f = DecodeFrame(buf);
    ASSERT_FALSE(f.ok());
    EXPECT_TRUE(IsNeedMoreBytes(f.status()));
    EXPECT_EQ(NeedMoreBytesTotal(f.status()), 5u);
  }
}

TEST(FramingTest, TruncatedBodyReportsTotal) {
  std::string full = EncodeFrame('D', "0123456789");
  for (size_t n = 5; n < full.size(); ++n) {
    auto f = DecodeFrame(absl::string_view(full).substr(0, n));
    ASSERT_FALSE(f.ok());
    EXPECT_TRUE(IsNeedMoreBytes(f.status()));
    EXPECT_EQ(NeedMoreBytesTotal(f.status()), full.size());
  }
}

TEST(FramingTest, LengthBelowFourIsMalformed) {
  for (uint32_t len = 0; len < 4; ++len) {
    auto f = DecodeFrame(Header('Z', len) + "xxxx");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_FALSE(IsNeedMoreBytes(f.status()));
    EXPECT_NE(f.status().message().find("malformed"), std::string::npos);
  }
}

TEST(FramingTest, NegativeLengthIsMalformed) {
  FrameLimits huge{~size_t{0}, ~size_t{0}};
  auto f = DecodeFrame(Header('d', 0x80000000u), huge);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
}

TEST(FramingTest, OversizedMessageRejectedFromHeaderAlone) {
  FrameLimits limits{100, 1000};
  auto f = DecodeFrame(Header('T', 4 + 101), limits);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find("'T'"), std::string::npos);
  EXPECT_NE(f.status().message().find("101"), std::string::npos);
  // Exactly at the cap: just needs the body.
  auto at_cap = DecodeFrame(Header('T', 4 + 100), limits);
  EXPECT_TRUE(IsNeedMoreBytes(at_cap.status()));
}

TEST(FramingTest, CopyDataUsesItsOwnCap) {
  FrameLimits limits{100, 1000};
  EXPECT_TRUE(IsNeedMoreBytes(DecodeFrame(Header('d', 4 + 500), limits).status()));
  auto over = DecodeFrame(Header('d', 4 + 1001), limits);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(over.status().message().find("'d'"), std::string::npos);
}

TEST(FramingTest, DefaultLimits) {
  FrameLimits limits;
  EXPECT_EQ(limits.max_message, 1u << 20);
  EXPECT_EQ(limits.max_copy_data, 64u << 20);
  auto f = DecodeFrame(Header('E', 4 + (1u << 20) + 1));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
}

TEST(FramingTest, UnprintableTypeDescribedInHex) {
  FrameLimits limits{1, 1};
  auto f = DecodeFrame(Header('\x01', 100), limits);
  EXPECT_NE(f.status().message().find("0x01"), std::string::npos);
}

TEST(FramingTest, OrdinaryUnavailableIsNotNeedMore) {
  absl::Status s = absl::UnavailableError("connection reset");
  EXPECT_FALSE(IsNeedMoreBytes(s));
  EXPECT_EQ(NeedMoreBytesTotal(s), 0u);
  EXPECT_FALSE(IsNeedMoreBytes(absl::OkStatus()));
}

TEST(FramingTest, SpanOverload) {
  std::string buf = EncodeFrame('K', "12345678");
  absl::Span<const uint8_t> span(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  auto f = DecodeFrame(span, FrameLimits());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->body, "12345678");
}

// ScanFrame is what the read loop uses; DecodeFrame is built on it. On every prefix of a
// stream, and on malformed and oversized headers, they agree.
TEST(FramingTest, ScanFrameAgreesWithDecodeFrame) {
  const std::string stream = EncodeFrame('d', std::string(300, 'w')) + EncodeFrame('k', "") +
                             Header('Z', 3) + "junk";
  FrameLimits limits;
  limits.max_message = 100;
  for (const std::string& input :
       {stream, Header('T', 4 + 101) + std::string(101, 't'), Header('d', 0x80000000u)}) {
    for (size_t n = 0; n <= input.size(); ++n) {
      const absl::string_view buf = absl::string_view(input).substr(0, n);
      const FrameScan scan = ScanFrame(buf, limits);
      const absl::StatusOr<Frame> frame = DecodeFrame(buf, limits);
      switch (scan.kind) {
        case FrameScan::Kind::kFrame:
          ASSERT_TRUE(frame.ok()) << n << " " << frame.status();
          EXPECT_EQ(scan.frame.type, frame->type);
          EXPECT_EQ(scan.frame.body.data(), frame->body.data());
          EXPECT_EQ(scan.frame.body.size(), frame->body.size());
          EXPECT_EQ(scan.frame.consumed, frame->consumed);
          break;
        case FrameScan::Kind::kNeedMore:
          ASSERT_TRUE(IsNeedMoreBytes(frame.status())) << n << " " << frame.status();
          EXPECT_EQ(scan.need, NeedMoreBytesTotal(frame.status())) << n;
          EXPECT_GT(scan.need, n);
          break;
        case FrameScan::Kind::kMalformed:
          EXPECT_TRUE(absl::IsDataLoss(scan.error)) << scan.error;
          EXPECT_EQ(scan.error, frame.status()) << n;
          break;
      }
    }
  }
  // The 'd' message is found whole once its last byte is there, then the 'k' after it.
  const FrameScan first = ScanFrame(stream);
  ASSERT_EQ(first.kind, FrameScan::Kind::kFrame);
  EXPECT_EQ(first.frame.type, 'd');
  const FrameScan second = ScanFrame(absl::string_view(stream).substr(first.frame.consumed));
  ASSERT_EQ(second.kind, FrameScan::Kind::kFrame);
  EXPECT_EQ(second.frame.type, 'k');
  EXPECT_EQ(ScanFrame(absl::string_view(stream).substr(first.frame.consumed +
                                                        second.frame.consumed))
                .kind,
            FrameScan::Kind::kMalformed);
}

}  // namespace
}  // namespace walrep
