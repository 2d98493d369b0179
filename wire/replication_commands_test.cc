#include "wire/replication_commands.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

TEST(SlotNameTest, Validation) {
  EXPECT_TRUE(ValidateSlotName("a").ok());
  EXPECT_TRUE(ValidateSlotName("walrep_node_1").ok());
  EXPECT_TRUE(ValidateSlotName(std::string(63, 'x')).ok());
  for (const std::string& bad : {""s, std::string(64, 'x'), "Upper"s, "has-dash"s, "sp ace"s,
                                 "quo\"te"s, "nul\0"s, "semi;colon"s}) {
    EXPECT_EQ(ValidateSlotName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(QuoteLiteralTest, DoublesQuotes) {
  EXPECT_EQ(*QuoteLiteral("plain"), "'plain'");
  EXPECT_EQ(*QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(*QuoteLiteral(""), "''");
  EXPECT_EQ(*QuoteLiteral("''"), "''''''");
  EXPECT_EQ(*QuoteLiteral("caf\xc3\xa9"), "'caf\xc3\xa9'");
}

TEST(QuoteLiteralTest, RejectsBackslashAndControls) {
  for (const std::string& bad : {"a\\b"s, "a\0b"s, "line\nbreak"s, "tab\t"s, "del\x7f"s}) {
    EXPECT_EQ(QuoteLiteral(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(CommandsTest, Simple) {
  EXPECT_EQ(IdentifySystemCommand(), "IDENTIFY_SYSTEM");
  EXPECT_EQ(*TimelineHistoryCommand(3), "TIMELINE_HISTORY 3");
  EXPECT_FALSE(TimelineHistoryCommand(0).ok());
  EXPECT_EQ(*ReadReplicationSlotCommand("s1"), "READ_REPLICATION_SLOT \"s1\"");
  EXPECT_FALSE(ReadReplicationSlotCommand("S1").ok());
  EXPECT_EQ(*DropReplicationSlotCommand("s1"), "DROP_REPLICATION_SLOT \"s1\"");
  EXPECT_EQ(*DropReplicationSlotCommand("s1", true), "DROP_REPLICATION_SLOT \"s1\" WAIT");
  EXPECT_FALSE(DropReplicationSlotCommand("x;y").ok());
}

TEST(CommandsTest, CreateSlotByVersion) {
  CreatePhysicalSlotOptions opts;
  EXPECT_EQ(*CreatePhysicalSlotCommand("s", opts, 140005),
            "CREATE_REPLICATION_SLOT \"s\" PHYSICAL RESERVE_WAL");
  EXPECT_EQ(*CreatePhysicalSlotCommand("s", opts, 150004),
            "CREATE_REPLICATION_SLOT \"s\" PHYSICAL (RESERVE_WAL)");
  opts.temporary = true;
  EXPECT_EQ(*CreatePhysicalSlotCommand("s", opts, 150004),
            "CREATE_REPLICATION_SLOT \"s\" TEMPORARY PHYSICAL (RESERVE_WAL)");
  EXPECT_EQ(*CreatePhysicalSlotCommand("s", opts, 120000),
            "CREATE_REPLICATION_SLOT \"s\" TEMPORARY PHYSICAL RESERVE_WAL");
  opts.reserve_wal = false;
  EXPECT_EQ(*CreatePhysicalSlotCommand("s", opts, 160000),
            "CREATE_REPLICATION_SLOT \"s\" TEMPORARY PHYSICAL");
  EXPECT_EQ(CreatePhysicalSlotCommand("s", opts, 110000).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CreatePhysicalSlotCommand("", opts, 150000).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CommandsTest, StartReplication) {
  StartReplicationOptions o;
  o.start = Lsn(0x3000000);
  EXPECT_EQ(*StartPhysicalReplicationCommand(o), "START_REPLICATION PHYSICAL 0/3000000");
  o.slot = "node_a";
  o.timeline = 2;
  o.start = Lsn(0x1A000000000);
  EXPECT_EQ(*StartPhysicalReplicationCommand(o),
            "START_REPLICATION SLOT \"node_a\" PHYSICAL 1A0/0 TIMELINE 2");
  o.slot = "Bad";
  EXPECT_FALSE(StartPhysicalReplicationCommand(o).ok());
}

TEST(MaxRateTest, ConversionAndBounds) {
  EXPECT_EQ(*MaxRateKb(0), 0u);
  EXPECT_EQ(*MaxRateKb(32 * 1024), 32u);
  EXPECT_EQ(*MaxRateKb(32 * 1024 + 1023), 32u);  // rounded down
  EXPECT_EQ(MaxRateKb(32 * 1024 - 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MaxRateKb(1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*MaxRateKb(uint64_t{1048576} * 1024), 1048576u);
  EXPECT_EQ(*MaxRateKb(~uint64_t{0}), 1048576u);  // clamped
}

TEST(BaseBackupTest, Version15Defaults) {
  BaseBackupOptions o;
  EXPECT_EQ(*BaseBackupCommand(o, 150004),
            "BASE_BACKUP ( LABEL 'walrep base backup', PROGRESS, CHECKPOINT 'spread', "
            "WAIT false, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP )");
}

TEST(BaseBackupTest, Version15AllOptions) {
  BaseBackupOptions o;
  o.label = "it's";
  o.fast_checkpoint = true;
  o.include_wal = true;
  o.verify_checksums = false;
  o.max_rate_bytes_per_sec = 10 * 1024 * 1024;
  EXPECT_EQ(*BaseBackupCommand(o, 170000),
            "BASE_BACKUP ( LABEL 'it''s', PROGRESS, CHECKPOINT 'fast', WAL, WAIT false, "
            "MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', MAX_RATE 10240, TABLESPACE_MAP, "
            "VERIFY_CHECKSUMS false )");
  o.progress = false;
  o.manifest = false;
  o.tablespace_map = false;
  o.wait_for_wal_archive = true;
  o.verify_checksums = true;
  o.include_wal = false;
  o.max_rate_bytes_per_sec = 0;
  EXPECT_EQ(*BaseBackupCommand(o, 150000), "BASE_BACKUP ( LABEL 'it''s', CHECKPOINT 'fast' )");
}

TEST(BaseBackupTest, ServerCompressionOn15AndRefusedBefore) {
  BaseBackupOptions o;
  o.manifest = false;
  o.tablespace_map = false;
  o.compression = "lz4";
  EXPECT_EQ(*BaseBackupCommand(o, 150000),
            "BASE_BACKUP ( LABEL 'walrep base backup', PROGRESS, CHECKPOINT 'spread', "
            "WAIT false, COMPRESSION 'lz4' )");
  o.compression = "zstd";
  o.compression_level = 7;
  EXPECT_EQ(*BaseBackupCommand(o, 170000),
            "BASE_BACKUP ( LABEL 'walrep base backup', PROGRESS, CHECKPOINT 'spread', "
            "WAIT false, COMPRESSION 'zstd', COMPRESSION_DETAIL 'level=7' )");
  auto old = BaseBackupCommand(o, 140010);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("compress on the client"), std::string::npos);
  o.compression.clear();
  EXPECT_EQ(BaseBackupCommand(o, 150000).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BaseBackupTest, KeywordFormBefore15) {
  BaseBackupOptions o;
  o.fast_checkpoint = true;
  o.verify_checksums = false;
  o.max_rate_bytes_per_sec = 64 * 1024;
  EXPECT_EQ(*BaseBackupCommand(o, 140010),
            "BASE_BACKUP LABEL 'walrep base backup' PROGRESS FAST NOWAIT MAX_RATE 64 "
            "TABLESPACE_MAP NOVERIFY_CHECKSUMS MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'");
  o.manifest = false;
  o.include_wal = true;
  EXPECT_EQ(*BaseBackupCommand(o, 120000),
            "BASE_BACKUP LABEL 'walrep base backup' PROGRESS FAST WAL NOWAIT MAX_RATE 64 "
            "TABLESPACE_MAP NOVERIFY_CHECKSUMS");
}

TEST(BaseBackupTest, Errors) {
  BaseBackupOptions o;
  EXPECT_EQ(BaseBackupCommand(o, 120000).status().code(),
            absl::StatusCode::kFailedPrecondition);  // manifest on 12
  EXPECT_EQ(BaseBackupCommand(o, 110000).status().code(), absl::StatusCode::kFailedPrecondition);
  o.label = "back\\slash";
  EXPECT_EQ(BaseBackupCommand(o, 150000).status().code(), absl::StatusCode::kInvalidArgument);
  o.label = std::string(1024, 'l');
  EXPECT_EQ(BaseBackupCommand(o, 150000).status().code(), absl::StatusCode::kInvalidArgument);
  o.label = std::string(1023, 'l');
  EXPECT_TRUE(BaseBackupCommand(o, 150000).ok());
  o.max_rate_bytes_per_sec = 1000;
  EXPECT_EQ(BaseBackupCommand(o, 150000).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walrep
