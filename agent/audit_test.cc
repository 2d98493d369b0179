#include "agent/audit.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

// Every way a password can be written into a conninfo, well-formed or not; none of the
// redactions or scrubs may contain the secret.
TEST(AuditTest, SecretsNeverSurvive) {
  const std::string secret = "s3cr%t'q\\x";
  const std::string uri_secret = "s3cr%25t%27q";  // percent-encoded "s3cr%t'q"
  struct Case {
    std::string conninfo;
    std::string secret;
  };
  for (const Case& c : std::vector<Case>{
           {"host=h password='s3cr%t\\'q\\\\x' user=u", secret},
           {"host=h password=s3cr%t\\'q\\\\x", secret},
           {"host=h password = 's3cr%t\\'q\\\\x", secret},  // unterminated quote
           {"host=h sslpassword='s3cr%t\\'q\\\\x'", secret},
           {"postgresql://u:" + uri_secret + "@h/db", "s3cr%t'q"},
           {"postgresql://u:" + uri_secret + "@h/db", uri_secret},
           {"postgresql://u:" + uri_secret + "@[::1/db", uri_secret},  // malformed
           {"postgresql://u:s3cr%zzt@h/db", "s3cr%zzt"},              // bad escape
           {"postgresql://h/db?password=" + uri_secret + "&sslmode=bogus", "s3cr%t'q"},
           {"postgresql://h/db?sslpassword=" + uri_secret + "&x", uri_secret},
       }) {
    std::string redacted = RedactConnInfo(c.conninfo);
    EXPECT_EQ(redacted.find(c.secret), std::string::npos) << c.conninfo << " -> " << redacted;
    std::string message = "cannot use \"" + c.conninfo + "\": bad";
    std::string scrubbed = ScrubSecrets(message, c.conninfo);
    EXPECT_EQ(scrubbed.find(c.secret), std::string::npos) << c.conninfo << " -> " << scrubbed;
    EXPECT_NE(scrubbed.find("********"), std::string::npos) << scrubbed;
  }
}

TEST(AuditTest, RedactsWellFormedConnInfoKeepingTheRest) {
  std::string r = RedactConnInfo("host=db1 user=rep password=hunter22");
  EXPECT_NE(r.find("host='db1'"), std::string::npos) << r;
  EXPECT_NE(r.find("user='rep'"), std::string::npos) << r;
  EXPECT_EQ(r.find("hunter22"), std::string::npos) << r;
  EXPECT_EQ(RedactConnInfo("host='unterminated password=x"), "<malformed conninfo, 29 bytes>");
  v1::StartReplicaRequest req;
  req.set_conninfo("host=db1 password=hunter22");
  req.set_slot_name("s1");
  v1::StartReplicaRequest out = Redacted(req);
  EXPECT_EQ(out.slot_name(), "s1");
  EXPECT_EQ(out.ShortDebugString().find("hunter22"), std::string::npos);
}

}  // namespace
}  // namespace walrep
