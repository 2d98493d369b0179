#include "wire/scram.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

constexpr char kRfcServerFirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s="
    "W22ZaJ0SNY7soEsUEjb6gQ==,"
    "i=4096";
constexpr char kRfcClientFinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr char kRfcServerFinal[] =
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramClient RfcClient() {
  return ScramClient::ForTesting("pencil", ScramChannelBinding::kNone, "",
                                 "user", "rOprNGfwEbeRWgbNEkqO");
}

// RFC 7677 section 3 example exchange.
TEST(ScramClientTest, Rfc7677Vector) {
  ScramClient c = RfcClient();
  EXPECT_EQ(c.MechanismName(), "SCRAM-SHA-256");
  EXPECT_EQ(*c.ClientFirstMessage(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(*c.HandleServerFirst(kRfcServerFirst), kRfcClientFinal);
  EXPECT_FALSE(c.authenticated());
  EXPECT_TRUE(c.HandleServerFinal(kRfcServerFinal).ok());
  EXPECT_TRUE(c.authenticated());
}

TEST(ScramClientTest, ServerSignatureMismatch) {
  ScramClient c = RfcClient();
  ASSERT_TRUE(c.ClientFirstMessage().ok());
  ASSERT_TRUE(c.HandleServerFirst(kRfcServerFirst).ok());
  absl::Status s =
      c.HandleServerFinal("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "server signature mismatch");
  EXPECT_FALSE(c.authenticated());
}

TEST(ScramClientTest, ServerErrorsArePermissionDenied) {
  ScramClient c = RfcClient();
  ASSERT_TRUE(c.ClientFirstMessage().ok());
  ASSERT_TRUE(c.HandleServerFirst(kRfcServerFirst).ok());
  absl::Status s = c.HandleServerFinal("e=invalid-proof");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(s.message(), "invalid-proof"));

  ScramClient d = RfcClient();
  ASSERT_TRUE(d.ClientFirstMessage().ok());
  EXPECT_EQ(d.HandleServerFirst("e=unknown-user").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(ScramClientTest, ProductionClientFirstHasEmptyUserAndRandomNonce) {
  ScramClient a("pw", ScramChannelBinding::kNone);
  ScramClient b("pw", ScramChannelBinding::kNone);
  std::string fa = *a.ClientFirstMessage();
  std::string fb = *b.ClientFirstMessage();
  ASSERT_TRUE(absl::StartsWith(fa, "n,,n=,r="));
  EXPECT_EQ(fa.size(), std::string("n,,n=,r=").size() + 24);
  EXPECT_NE(fa, fb);
  EXPECT_EQ(a.ClientFirstMessage().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ScramClientTest, ClientSupportsBindingHeader) {
  ScramClient c = ScramClient::ForTesting(
      "pw", ScramChannelBinding::kClientSupports, "", "", "abc");
  EXPECT_EQ(c.MechanismName(), "SCRAM-SHA-256");
  EXPECT_EQ(*c.ClientFirstMessage(), "y,,n=,r=abc");
  std::string final_msg = *c.HandleServerFirst("r=abcdef,s=c2FsdA==,i=1");
  EXPECT_TRUE(absl::StartsWith(final_msg, "c=eSws,r=abcdef,p=")) << final_msg;
}

// Values computed with Python (hashlib.pbkdf2_hmac, hmac) for an empty user
// name and tls-server-end-point data 00 01 .. 1f.
TEST(ScramClientTest, TlsServerEndPointVector) {
  std::string cb;
  for (int i = 0; i < 32; ++i) cb.push_back(static_cast<char>(i));
  ScramClient c =
      ScramClient::ForTesting("secret", ScramChannelBinding::kTlsServerEndPoint,
                              cb, "", "clientnonce123");
  EXPECT_EQ(c.MechanismName(), "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(*c.ClientFirstMessage(),
            "p=tls-server-end-point,,n=,r=clientnonce123");
  EXPECT_EQ(*c.HandleServerFirst(
                "r=clientnonce123serverpart,s=c2FsdHNhbHRzYWx0,i=4096"),
            "c="
            "cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGB"
            "kaGxwdHh8="
            ",r=clientnonce123serverpart,p=LGPp/K+6aTztM966XtsjRgd41Mov/"
            "0FS84eBFy9RgQc=");
  EXPECT_TRUE(
      c.HandleServerFinal("v=OiIGU5LrebHqARkuo/BGhWF5h0ybuXCA8xzqziqqGXQ=")
          .ok());
}

TEST(ScramClientTest, PlusNeedsBindingData) {
  ScramClient c("pw", ScramChannelBinding::kTlsServerEndPoint);
  EXPECT_EQ(c.ClientFirstMessage().status().code(),
            absl::StatusCode::kInvalidArgument);
  ScramClient d("pw", ScramChannelBinding::kNone, "unexpected");
  EXPECT_EQ(d.ClientFirstMessage().status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The no-break space maps to U+0020 before hashing (RFC 4013 step 1); Python
// computed the proof over "p\xc3\xa4 ss".
TEST(ScramClientTest, SaslPrepMappingAppliesToPassword) {
  ScramClient c =
      ScramClient::ForTesting("p\xc3\xa4\xc2\xa0ss", ScramChannelBinding::kNone,
                              "", "", "clientnonce123");
  ASSERT_TRUE(c.ClientFirstMessage().ok());
  EXPECT_EQ(*c.HandleServerFirst(
                "r=clientnonce123serverpart,s=c2FsdHNhbHRzYWx0,i=4096"),
            "c=biws,r=clientnonce123serverpart,"
            "p=iZOLxeH6llREMufToskhbptJ6QhnGjIWw9n6xETVO80=");
  EXPECT_TRUE(
      c.HandleServerFinal("v=iQjPD2kgsGOBqaEfWZyrGeDCpXuBPjhGiN5RXyCZjrw=")
          .ok());
}

TEST(ScramNormalizePasswordTest, Rules) {
  EXPECT_EQ(ScramNormalizePassword("pencil"), "pencil");
  EXPECT_EQ(ScramNormalizePassword("a\tb"),
            "a\tb");  // ASCII passes through untouched.
  EXPECT_EQ(ScramNormalizePassword("\xff\xfe"), "\xff\xfe");  // Not UTF-8: raw.
  EXPECT_EQ(ScramNormalizePassword("I\xc2\xadX"),
            "IX");  // Soft hyphen removed.
  EXPECT_EQ(ScramNormalizePassword("a\xe2\x80\x83"
                                   "b"),
            "a b");  // EM SPACE.
  // A prohibited code point (private use) after mapping: fall back to raw
  // bytes.
  EXPECT_EQ(ScramNormalizePassword("\xc2\xad\xee\x80\x80"),
            "\xc2\xad\xee\x80\x80");
  // Empty after mapping: raw.
  EXPECT_EQ(ScramNormalizePassword("\xc2\xad"), "\xc2\xad");
  // Overlong encoding of '/' is not valid UTF-8: raw.
  EXPECT_EQ(ScramNormalizePassword("\xc0\xaf\xc2\xad"), "\xc0\xaf\xc2\xad");
}

struct BadServerFirst {
  const char* msg;
  absl::StatusCode code;
};

TEST(ScramClientTest, RejectsBadServerFirst) {
  const BadServerFirst cases[] = {
      {"", absl::StatusCode::kInvalidArgument},
      {"r=abc,s=c2FsdA==,i=1",
       absl::StatusCode::kInvalidArgument},  // No server part.
      {"r=xbcdef,s=c2FsdA==,i=1",
       absl::StatusCode::kInvalidArgument},  // Wrong prefix.
      {"r=abcdef,s=,i=1", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=!!!,i=1", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=0", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=-1", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=+5", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=10000001", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=99999999999999999999",
       absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==", absl::StatusCode::kInvalidArgument},
      {"r=abcdef,s=c2FsdA==,i=1,garbage", absl::StatusCode::kInvalidArgument},
      {"m=ext,r=abcdef,s=c2FsdA==,i=1", absl::StatusCode::kInvalidArgument},
      {"s=c2FsdA==,r=abcdef,i=1", absl::StatusCode::kInvalidArgument},
      {"e=other-error", absl::StatusCode::kPermissionDenied},
  };
  for (const auto& tc : cases) {
    ScramClient c = ScramClient::ForTesting("pw", ScramChannelBinding::kNone,
                                            "", "", "abc");
    ASSERT_TRUE(c.ClientFirstMessage().ok());
    EXPECT_EQ(c.HandleServerFirst(tc.msg).status().code(), tc.code) << tc.msg;
    // A failed client stays failed.
    EXPECT_FALSE(c.HandleServerFinal("v=x").ok());
  }
  // Extensions after i= are allowed by RFC 5802.
  ScramClient ok =
      ScramClient::ForTesting("pw", ScramChannelBinding::kNone, "", "", "abc");
  ASSERT_TRUE(ok.ClientFirstMessage().ok());
  EXPECT_TRUE(ok.HandleServerFirst("r=abcdef,s=c2FsdA==,i=1,x=ext").ok());
}

TEST(ScramClientTest, RejectsBadServerFinal) {
  for (const char* msg :
       {"", "v=", "v=abc", "x=1",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,junk"}) {
    ScramClient c = RfcClient();
    ASSERT_TRUE(c.ClientFirstMessage().ok());
    ASSERT_TRUE(c.HandleServerFirst(kRfcServerFirst).ok());
    EXPECT_EQ(c.HandleServerFinal(msg).code(),
              absl::StatusCode::kInvalidArgument)
        << msg;
  }
}

TEST(ScramClientTest, OutOfOrderCallsFail) {
  ScramClient c = RfcClient();
  EXPECT_EQ(c.HandleServerFirst(kRfcServerFirst).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ScramClient d = RfcClient();
  ASSERT_TRUE(d.ClientFirstMessage().ok());
  EXPECT_EQ(d.HandleServerFinal(kRfcServerFinal).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ScramClientTest, ErrorsNeverContainPassword) {
  ScramClient c = ScramClient::ForTesting("hunter2", ScramChannelBinding::kNone,
                                          "", "", "abc");
  ASSERT_TRUE(c.ClientFirstMessage().ok());
  absl::Status s = c.HandleServerFirst("r=abcdef,s=c2FsdA==,i=0").status();
  EXPECT_FALSE(absl::StrContains(s.message(), "hunter2"));
}

}  // namespace
}  // namespace walrep
