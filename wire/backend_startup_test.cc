#include "wire/backend_startup.h"

#include <string>

#include "gtest/gtest.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

std::string AuthBody(int32_t code, absl::string_view rest = "") {
  std::string s;
  ByteWriter w(&s);
  w.PutI32(code);
  w.PutBytes(rest);
  return s;
}

TEST(AuthenticationTest, Ok) {
  auto a = DecodeAuthentication(AuthBody(0));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->code, 0);
  EXPECT_FALSE(DecodeAuthentication(AuthBody(0, "x")).ok());
}

TEST(AuthenticationTest, Cleartext) {
  auto a = DecodeAuthentication(AuthBody(3));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->code, static_cast<int32_t>(AuthCode::kCleartextPassword));
}

TEST(AuthenticationTest, Md5Salt) {
  auto a = DecodeAuthentication(AuthBody(5, "\x01\x02\x03\xff"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->md5_salt[0], 1);
  EXPECT_EQ(a->md5_salt[3], 0xff);
  EXPECT_EQ(DecodeAuthentication(AuthBody(5, "abc")).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeAuthentication(AuthBody(5, "abcde")).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AuthenticationTest, SaslMechanisms) {
  auto a = DecodeAuthentication(AuthBody(10, "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->sasl_mechanisms.size(), 2u);
  EXPECT_EQ(a->sasl_mechanisms[0], "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(a->sasl_mechanisms[1], "SCRAM-SHA-256");
}

TEST(AuthenticationTest, SaslHostile) {
  EXPECT_FALSE(DecodeAuthentication(AuthBody(10, "SCRAM-SHA-256\0"s)).ok());  // no end
  EXPECT_FALSE(DecodeAuthentication(AuthBody(10, "\0"s)).ok());               // empty list
  EXPECT_FALSE(DecodeAuthentication(AuthBody(10, "A\0\0x"s)).ok());           // trailing
  EXPECT_FALSE(DecodeAuthentication(AuthBody(10, "SCRAM")).ok());             // unterminated
  std::string many;
  for (int i = 0; i < 33; ++i) many += "m\0"s;
  EXPECT_FALSE(DecodeAuthentication(AuthBody(10, many + "\0"s)).ok());
}

TEST(AuthenticationTest, SaslContinueAndFinalKeepData) {
  auto c = DecodeAuthentication(AuthBody(11, "r=abc,s=xyz,i=4096"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "r=abc,s=xyz,i=4096");
  auto f = DecodeAuthentication(AuthBody(12, "v=sig"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->code, 12);
  EXPECT_EQ(f->data, "v=sig");
}

TEST(AuthenticationTest, UnsupportedMethodsDecodeWithCode) {
  for (int32_t code : {2, 7, 9, 42, -1}) {
    auto a = DecodeAuthentication(AuthBody(code, "zz"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->code, code);
  }
}

TEST(AuthenticationTest, Truncated) {
  EXPECT_EQ(DecodeAuthentication("\0\0\0"s).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ParameterStatusTest, Decodes) {
  auto p = DecodeParameterStatus("server_version\00015.4\0"s);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "server_version");
  EXPECT_EQ(p->value, "15.4");
  auto empty_value = DecodeParameterStatus("x\0\0"s);
  ASSERT_TRUE(empty_value.ok());
  EXPECT_EQ(empty_value->value, "");
}

TEST(ParameterStatusTest, Hostile) {
  EXPECT_FALSE(DecodeParameterStatus("name"s).ok());
  EXPECT_FALSE(DecodeParameterStatus("name\0value"s).ok());
  EXPECT_FALSE(DecodeParameterStatus("n\0v\0extra"s).ok());
  EXPECT_FALSE(DecodeParameterStatus("\0v\0"s).ok());
}

TEST(BackendKeyDataTest, Decodes) {
  auto k = DecodeBackendKeyData("\x00\x00\x30\x39\x01\x02\x03\x04"s);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->process_id, 12345);
  EXPECT_EQ(k->secret_key, "\x01\x02\x03\x04"s);
}

TEST(BackendKeyDataTest, Hostile) {
  EXPECT_FALSE(DecodeBackendKeyData("\0\0\0\1abc"s).ok());
  EXPECT_FALSE(DecodeBackendKeyData("\0\0"s).ok());
  EXPECT_FALSE(DecodeBackendKeyData("\0\0\0\1"s + std::string(257, 'k')).ok());
  EXPECT_TRUE(DecodeBackendKeyData("\0\0\0\1"s + std::string(256, 'k')).ok());
}

TEST(ReadyForQueryTest, Statuses) {
  EXPECT_EQ(*DecodeReadyForQuery("I"), TransactionStatus::kIdle);
  EXPECT_EQ(*DecodeReadyForQuery("T"), TransactionStatus::kInTransaction);
  EXPECT_EQ(*DecodeReadyForQuery("E"), TransactionStatus::kFailed);
  EXPECT_FALSE(DecodeReadyForQuery("X").ok());
  EXPECT_FALSE(DecodeReadyForQuery("").ok());
  EXPECT_FALSE(DecodeReadyForQuery("II").ok());
}

TEST(NegotiateProtocolVersionTest, Decodes) {
  auto n = DecodeNegotiateProtocolVersion("\0\0\0\0\0\0\0\2_pq_.a\0_pq_.b\0"s);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->newest_minor_version, 0);
  ASSERT_EQ(n->unrecognized_options.size(), 2u);
  EXPECT_EQ(n->unrecognized_options[1], "_pq_.b");
}

TEST(NegotiateProtocolVersionTest, Hostile) {
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\0\0\0\0"s).ok());
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\0\0\0\0\x7f\xff\xff\xff"s).ok());
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\0\0\0\0\xff\xff\xff\xff"s).ok());
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\0\0\0\0\0\0\0\1abc"s).ok());
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\0\0\0\0\0\0\0\1a\0b"s).ok());
  EXPECT_FALSE(DecodeNegotiateProtocolVersion("\xff\0\0\0\0\0\0\0"s).ok());
}

}  // namespace
}  // namespace walrep
