#include "backup/backup_request.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

v1::FetchBaseBackupRequest Req() {
  v1::FetchBaseBackupRequest r;
  r.set_conninfo("host=p");
  return r;
}

void Compress(v1::FetchBaseBackupRequest& r, v1::CompressionMethod m,
              v1::CompressionLocation where) {
  r.mutable_compression()->set_method(m);
  r.mutable_compression()->set_location(where);
}

// InvalidArgument whose message names `word`.
void ExpectRefused(const v1::FetchBaseBackupRequest& r, const std::string& word) {
  auto o = ChooseOutput(r);
  ASSERT_FALSE(o.ok()) << word;
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << o.status();
  EXPECT_NE(o.status().message().find(word), std::string::npos) << o.status();
}

TEST(ChooseOutputTest, DefaultsArePlainAndUncompressed) {
  auto o = ChooseOutput(Req());
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->tar);
  EXPECT_EQ(o->server, Compression::kNone);
  EXPECT_EQ(o->client, Compression::kNone);
  auto c = CommandOptions(Req(), *o);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->compression.empty());
}

TEST(ChooseOutputTest, UnsetLocationMeansTheServerCompresses) {
  auto r = Req();
  r.mutable_compression()->set_method(v1::COMPRESSION_METHOD_LZ4);
  r.mutable_compression()->set_level(5);
  auto o = ChooseOutput(r);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->server, Compression::kLz4);
  auto c = CommandOptions(r, *o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->compression, "lz4");
  EXPECT_EQ(c->compression_level, 5);
}

TEST(ChooseOutputTest, ClientCompressionIsForTarOnly) {
  auto r = Req();
  Compress(r, v1::COMPRESSION_METHOD_ZSTD, v1::COMPRESSION_LOCATION_CLIENT);
  ExpectRefused(r, "format TAR");
  r.set_format(v1::BACKUP_FORMAT_TAR);
  auto o = ChooseOutput(r);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->tar);
  EXPECT_EQ(o->client, Compression::kZstd);
  EXPECT_EQ(o->server, Compression::kNone);
  EXPECT_TRUE(CommandOptions(r, *o)->compression.empty()) << "the primary sends plain tar";
}

TEST(ChooseOutputTest, ContradictionsAreRefusedByName) {
  auto r = Req();
  r.mutable_compression()->set_level(3);
  ExpectRefused(r, "compression.level");
  r = Req();
  Compress(r, v1::COMPRESSION_METHOD_GZIP, v1::COMPRESSION_LOCATION_SERVER);
  r.mutable_compression()->set_level(0);
  ExpectRefused(r, "level 0");
  r = Req();
  r.set_format(v1::BACKUP_FORMAT_TAR);
  (*r.mutable_tablespace_mapping())["/a"] = "/b";
  ExpectRefused(r, "tablespace_mapping");
  r = Req();
  r.set_format(v1::BACKUP_FORMAT_TAR);
  r.set_tablespaces_in_place(true);
  ExpectRefused(r, "tablespaces_in_place");
  r = Req();
  r.set_format(v1::BACKUP_FORMAT_TAR);
  r.set_write_recovery_conf(true);
  Compress(r, v1::COMPRESSION_METHOD_LZ4, v1::COMPRESSION_LOCATION_SERVER);
  ExpectRefused(r, "write_recovery_conf");
  // The same with the tar compressed here is fine: walrep rewrites it before compressing.
  r.mutable_compression()->set_location(v1::COMPRESSION_LOCATION_CLIENT);
  EXPECT_TRUE(ChooseOutput(r).ok());
}

TEST(ReceiverTimeoutTest, DefaultZeroAndNegative) {
  auto r = Req();
  EXPECT_EQ(*ReceiverTimeout(r), absl::Seconds(60));
  r.mutable_receiver_timeout()->set_seconds(0);
  EXPECT_EQ(*ReceiverTimeout(r), absl::InfiniteDuration());
  r.mutable_receiver_timeout()->set_seconds(5);
  r.mutable_receiver_timeout()->set_nanos(500000000);
  EXPECT_EQ(*ReceiverTimeout(r), absl::Milliseconds(5500));
  r.mutable_receiver_timeout()->set_seconds(-1);
  r.mutable_receiver_timeout()->set_nanos(0);
  EXPECT_EQ(ReceiverTimeout(r).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walrep
