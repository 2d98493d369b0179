#include "wire/base_backup_stream.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using Kind = BaseBackupMessage::Kind;

TEST(BaseBackupStreamTest, RoundTripsEveryMessage) {
  auto n = DecodeBaseBackupMessage(EncodeBaseBackupNewArchive("16384.tar", "/srv/ts"));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->kind, Kind::kNewArchive);
  EXPECT_EQ(n->archive_name, "16384.tar");
  EXPECT_EQ(n->tablespace_path, "/srv/ts");

  auto base = DecodeBaseBackupMessage(EncodeBaseBackupNewArchive("base.tar", ""));
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->tablespace_path, "");

  std::string encoded = EncodeBaseBackupData(std::string("a\0b", 3));
  auto d = DecodeBaseBackupMessage(encoded);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Kind::kData);
  EXPECT_EQ(d->data, std::string("a\0b", 3));

  auto m = DecodeBaseBackupMessage(EncodeBaseBackupManifestFollows());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, Kind::kManifest);

  auto p = DecodeBaseBackupMessage(EncodeBaseBackupProgress(123456789012));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, Kind::kProgress);
  EXPECT_EQ(p->progress, 123456789012);
}

TEST(BaseBackupStreamTest, RejectsMalformedMessages) {
  for (const std::string& bad :
       {std::string(), std::string("x"), std::string("n"), std::string("nbase.tar", 9),
        std::string("n\0\0", 3), std::string("nbase.tar\0\0junk", 15), std::string("mx"),
        std::string("p\0\0\0", 4), EncodeBaseBackupProgress(-1),
        "n" + std::string(kMaxBackupArchiveField + 1, 'a') + std::string("\0\0", 2)}) {
    auto r = DecodeBaseBackupMessage(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << bad.size();
  }
}

}  // namespace
}  // namespace walrep
