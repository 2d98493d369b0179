#include "backup/backup_end_reader.h"

#include <string>

#include "gtest/gtest.h"
#include "wire/fake_pg_server.h"
#include "wire/framing.h"

namespace walrep {
namespace {

using fake_pg::Complete;
using fake_pg::I16;
using fake_pg::I32;
using fake_pg::Ready;
using fake_pg::Row;

// The end result's description as a server sends it: recptr text, tli int8.
std::string EndDesc() {
  std::string b = I16(2);
  b += std::string("recptr") + '\0' + I32(0) + I16(0) + I32(25) + I16(-1) + I32(-1) + I16(0);
  b += std::string("tli") + '\0' + I32(0) + I16(0) + I32(20) + I16(8) + I32(-1) + I16(0);
  return EncodeFrame('T', b);
}

// Feeds one encoded message (type byte, length, body) to the reader.
absl::Status Feed(BackupEndReader& r, const std::string& message) {
  absl::StatusOr<Frame> f = DecodeFrame(message);
  if (!f.ok()) return f.status();
  return r.OnMessage(f->type, f->body);
}

TEST(BackupEndReaderTest, ReadsTheEndPositionThenReady) {
  BackupEndReader r;
  EXPECT_FALSE(r.started());
  ASSERT_TRUE(Feed(r, EndDesc()).ok());
  EXPECT_TRUE(r.started());
  ASSERT_TRUE(Feed(r, Row({"0/2000100", "1"})).ok());
  EXPECT_FALSE(r.end().has_value());  // only CommandComplete closes the result set
  ASSERT_TRUE(Feed(r, Complete("SELECT")).ok());
  ASSERT_TRUE(r.end().has_value());
  EXPECT_EQ(r.end()->lsn, Lsn(0x2000100));
  EXPECT_EQ(r.end()->timeline, 1u);
  EXPECT_FALSE(r.ready());
  ASSERT_TRUE(Feed(r, Ready()).ok());
  EXPECT_TRUE(r.ready());
}

TEST(BackupEndReaderTest, RefusesWhatDoesNotBelongAfterTheCopy) {
  {
    BackupEndReader r;
    absl::Status s = Feed(r, Row({"0/2000100", "1"}));
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
  {
    BackupEndReader r;
    ASSERT_TRUE(Feed(r, EndDesc()).ok());
    ASSERT_TRUE(Feed(r, Row({"0/2000100", "1"})).ok());
    ASSERT_TRUE(Feed(r, Row({"0/2000200", "1"})).ok());
    absl::Status s = Feed(r, Row({"0/2000300", "1"}));
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
  {
    BackupEndReader r;
    absl::Status s = Feed(r, EncodeFrame('d', "late archive bytes"));
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_NE(s.message().find("'d'"), std::string::npos) << s;
  }
  {
    // An end row whose timeline is 0 is not a backup end.
    BackupEndReader r;
    ASSERT_TRUE(Feed(r, EndDesc()).ok());
    ASSERT_TRUE(Feed(r, Row({"0/2000100", "0"})).ok());
    absl::Status s = Feed(r, Complete("SELECT"));
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_NE(s.message().find("BASE_BACKUP end"), std::string::npos) << s;
    EXPECT_FALSE(r.end().has_value());
  }
}

}  // namespace
}  // namespace walrep
