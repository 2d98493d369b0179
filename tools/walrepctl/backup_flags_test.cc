#include "tools/walrepctl/backup_flags.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(CompressFlagTest, PgBasebackupSpellings) {
  auto c = ParseCompressFlag("server-lz4");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->method(), v1::COMPRESSION_METHOD_LZ4);
  EXPECT_EQ(c->location(), v1::COMPRESSION_LOCATION_SERVER);
  EXPECT_FALSE(c->has_level());
  c = ParseCompressFlag("client-zstd:3");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->method(), v1::COMPRESSION_METHOD_ZSTD);
  EXPECT_EQ(c->location(), v1::COMPRESSION_LOCATION_CLIENT);
  EXPECT_EQ(c->level(), 3);
  c = ParseCompressFlag("gzip:level=9");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->location(), v1::COMPRESSION_LOCATION_CLIENT);
  EXPECT_EQ(c->level(), 9);
  c = ParseCompressFlag("5");  // the pre-15 -Z 5
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->method(), v1::COMPRESSION_METHOD_GZIP);
  EXPECT_EQ(c->level(), 5);
  EXPECT_FALSE(ParseCompressFlag("server-brotli").ok());
  auto workers = ParseCompressFlag("server-zstd:workers=4");
  ASSERT_FALSE(workers.ok());
  EXPECT_NE(workers.status().message().find("workers=4"), std::string::npos);
}

TEST(FormatFlagTest, PlainAndTar) {
  EXPECT_EQ(*ParseFormatFlag("t"), v1::BACKUP_FORMAT_TAR);
  EXPECT_EQ(*ParseFormatFlag("plain"), v1::BACKUP_FORMAT_PLAIN);
  EXPECT_FALSE(ParseFormatFlag("zip").ok());
}

TEST(TablespaceMappingTest, EscapedEqualsAndErrors) {
  v1::FetchBaseBackupRequest req;
  ASSERT_TRUE(ParseTablespaceMappings({"/srv/ts=/mnt/ts", "/a\\=b=/c"}, &req).ok());
  EXPECT_EQ(req.tablespace_mapping().at("/srv/ts"), "/mnt/ts");
  EXPECT_EQ(req.tablespace_mapping().at("/a=b"), "/c");
  EXPECT_FALSE(ParseTablespaceMappings({"/only"}, &req).ok());
  EXPECT_FALSE(ParseTablespaceMappings({"/a=/b=/c"}, &req).ok());
}

TEST(ProgressLineTest, AsPgBasebackupPrintsIt) {
  v1::BackupProgress p;
  p.set_bytes_done(24567 * 1024);
  p.set_bytes_total(123456 * 1024);
  p.set_tablespaces_done(0);
  p.set_tablespaces_total(2);
  EXPECT_EQ(ProgressLine(p), " 24567/123456 kB (19%), 0/2 tablespaces");
  p.set_bytes_done(130000 * 1024);
  p.set_tablespaces_done(1);
  p.set_tablespaces_total(1);
  EXPECT_EQ(ProgressLine(p), "130000/130000 kB (100%), 1/1 tablespace");
}

}  // namespace
}  // namespace walrep
