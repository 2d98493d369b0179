#include "wire/frontend.h"

#include <string>

#include "gtest/gtest.h"
#include "wire/bytes.h"
#include "wire/framing.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

TEST(FrontendTest, StartupMessageLayout) {
  auto msg = EncodeStartupMessage({{"user", "rep"}, {"replication", "true"}});
  ASSERT_TRUE(msg.ok()) << msg.status();
  std::string expected_body = "user\0rep\0replication\0true\0\0"s;
  ASSERT_EQ(msg->size(), 8 + expected_body.size());
  ByteReader r(*msg);
  uint32_t len = 0;
  int32_t version = 0;
  r.ReadU32(&len);
  r.ReadI32(&version);
  EXPECT_EQ(len, msg->size());
  EXPECT_EQ(version, 196608);
  EXPECT_EQ(r.ReadRest(), expected_body);
}

TEST(FrontendTest, StartupRejectsNulNamingKey) {
  auto bad_value = EncodeStartupMessage({{"application_name", "a\0b"s}});
  ASSERT_EQ(bad_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_value.status().message().find("application_name"), std::string::npos);
  auto bad_key = EncodeStartupMessage({{"us\0er"s, "x"}});
  EXPECT_EQ(bad_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeStartupMessage({{"", "x"}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrontendTest, StartupRejectsOversizedPacket) {
  auto msg = EncodeStartupMessage({{"options", std::string(10000, 'x')}});
  EXPECT_EQ(msg.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrontendTest, EmptyStartup) {
  auto msg = EncodeStartupMessage({});
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->size(), 9u);
}

TEST(FrontendTest, SslRequest) {
  EXPECT_EQ(EncodeSslRequest(), "\x00\x00\x00\x08\x04\xd2\x16\x2f"s);
}

TEST(FrontendTest, CancelRequest) {
  auto msg = EncodeCancelRequest(0x01020304, "\xaa\xbb\xcc\xdd");
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(*msg, "\x00\x00\x00\x10\x04\xd2\x16\x2e\x01\x02\x03\x04\xaa\xbb\xcc\xdd"s);
  EXPECT_EQ(EncodeCancelRequest(1, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeCancelRequest(1, std::string(257, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FrontendTest, PasswordMessage) {
  auto msg = EncodePasswordMessage("secret");
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(*msg, EncodeFrame('p', "secret\0"s));
  auto bad = EncodePasswordMessage("se\0cret"s);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().find("cret"), std::string::npos);
}

TEST(FrontendTest, SaslInitialResponse) {
  auto msg = EncodeSaslInitialResponse("SCRAM-SHA-256", "n,,n=,r=abc"s);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(*msg, EncodeFrame('p', "SCRAM-SHA-256\0\x00\x00\x00\x0bn,,n=,r=abc"s));
  auto none = EncodeSaslInitialResponse("X", std::nullopt);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, EncodeFrame('p', "X\0\xff\xff\xff\xff"s));
  EXPECT_FALSE(EncodeSaslInitialResponse("A\0B"s, std::nullopt).ok());
  EXPECT_FALSE(EncodeSaslInitialResponse("", std::nullopt).ok());
}

TEST(FrontendTest, SaslResponseIsRaw) {
  auto msg = EncodeSaslResponse("c=biws,\0r"s);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(*msg, EncodeFrame('p', "c=biws,\0r"s));
}

TEST(FrontendTest, Query) {
  auto msg = EncodeQuery("IDENTIFY_SYSTEM");
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(*msg, "Q\x00\x00\x00\x14IDENTIFY_SYSTEM\0"s);
  EXPECT_EQ(EncodeQuery("SELECT 1;\0DROP"s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrontendTest, CopyMessages) {
  auto data = EncodeCopyData("r\0\1"s);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "d\0\0\0\x07r\0\1"s);
  EXPECT_EQ(EncodeCopyDone(), "c\0\0\0\x04"s);
  auto fail = EncodeCopyFail("oops");
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(*fail, EncodeFrame('f', "oops\0"s));
  EXPECT_FALSE(EncodeCopyFail("o\0ps"s).ok());
  EXPECT_EQ(EncodeTerminate(), "X\0\0\0\x04"s);
}

TEST(FrontendTest, EncodedFramesDecode) {
  auto q = EncodeQuery("SELECT 1");
  ASSERT_TRUE(q.ok());
  auto f = DecodeFrame(*q);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, 'Q');
  EXPECT_EQ(f->consumed, q->size());
}

}  // namespace
}  // namespace walrep
