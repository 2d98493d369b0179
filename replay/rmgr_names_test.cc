#include "replay/rmgr_names.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(RmgrNamesTest, BuiltinNamesInIdOrder) {
  const char* const want[] = {"XLOG",     "Transaction",   "Storage",   "CLOG",
                              "Database", "Tablespace",    "MultiXact", "RelMap",
                              "Standby",  "Heap2",         "Heap",      "Btree",
                              "Hash",     "Gin",           "Gist",      "Sequence",
                              "SPGist",   "BRIN",          "CommitTs",  "ReplicationOrigin",
                              "Generic",  "LogicalMessage"};
  for (int id = 0; id <= kMaxBuiltinRmgrId; ++id) {
    EXPECT_EQ(RmgrName(static_cast<uint8_t>(id)), want[id]) << id;
    EXPECT_TRUE(RmgrIdIsValid(static_cast<uint8_t>(id)));
  }
}

TEST(RmgrNamesTest, CustomAndInvalidIds) {
  EXPECT_EQ(RmgrName(128), "custom128");
  EXPECT_EQ(RmgrName(255), "custom255");
  EXPECT_TRUE(RmgrIdIsCustom(128));
  EXPECT_FALSE(RmgrIdIsCustom(21));
  EXPECT_FALSE(RmgrIdIsValid(22));
  EXPECT_FALSE(RmgrIdIsValid(127));
  EXPECT_EQ(RmgrName(22), "");
  // pg_waldump cannot load a custom manager, so it cannot name its records either.
  EXPECT_EQ(RmgrIdentify(128, 0x00), nullptr);
  EXPECT_EQ(RecordTypeName(200, 0x30), "UNKNOWN (30)");
}

TEST(RmgrNamesTest, XlogTypesIgnoreTheLowFourBits) {
  EXPECT_STREQ(RmgrIdentify(0, 0x00), "CHECKPOINT_SHUTDOWN");
  EXPECT_STREQ(RmgrIdentify(0, 0x10), "CHECKPOINT_ONLINE");
  EXPECT_STREQ(RmgrIdentify(0, 0x40), "SWITCH");
  EXPECT_STREQ(RmgrIdentify(0, 0x70), "RESTORE_POINT");
  EXPECT_STREQ(RmgrIdentify(0, 0xA0), "FPI_FOR_HINT");
  EXPECT_STREQ(RmgrIdentify(0, 0xB0), "FPI");
  EXPECT_STREQ(RmgrIdentify(0, 0xB2), "FPI");  // XLR_CHECK_CONSISTENCY set
  EXPECT_STREQ(RmgrIdentify(0, 0xD0), "OVERWRITE_CONTRECORD");
  EXPECT_EQ(RmgrIdentify(0, 0xC0), nullptr);
  EXPECT_EQ(RecordTypeName(0, 0xC3), "UNKNOWN (c0)");
}

TEST(RmgrNamesTest, TransactionMasksItsHasInfoBit) {
  EXPECT_STREQ(RmgrIdentify(1, 0x00), "COMMIT");
  EXPECT_STREQ(RmgrIdentify(1, 0x80), "COMMIT");  // XLOG_XACT_HAS_INFO
  EXPECT_STREQ(RmgrIdentify(1, 0xA0), "ABORT");
  EXPECT_STREQ(RmgrIdentify(1, 0x30), "COMMIT_PREPARED");
  EXPECT_STREQ(RmgrIdentify(1, 0x60), "INVALIDATION");
  EXPECT_EQ(RmgrIdentify(1, 0x70), nullptr);
}

TEST(RmgrNamesTest, HeapInitPageVariants) {
  EXPECT_STREQ(RmgrIdentify(10, 0x00), "INSERT");
  EXPECT_STREQ(RmgrIdentify(10, 0x80), "INSERT+INIT");
  EXPECT_STREQ(RmgrIdentify(10, 0x40), "HOT_UPDATE");
  EXPECT_STREQ(RmgrIdentify(10, 0xC0), "HOT_UPDATE+INIT");
  EXPECT_STREQ(RmgrIdentify(10, 0x50), "HEAP_CONFIRM");
  // PostgreSQL names no DELETE+INIT.
  EXPECT_EQ(RecordTypeName(10, 0x90), "UNKNOWN (90)");
  EXPECT_STREQ(RmgrIdentify(9, 0x10), "PRUNE");
  EXPECT_STREQ(RmgrIdentify(9, 0x50), "MULTI_INSERT");
  EXPECT_STREQ(RmgrIdentify(9, 0xD0), "MULTI_INSERT+INIT");
  EXPECT_EQ(RmgrIdentify(9, 0x90), nullptr);
}

TEST(RmgrNamesTest, OtherManagers) {
  EXPECT_STREQ(RmgrIdentify(2, 0x10), "CREATE");
  EXPECT_STREQ(RmgrIdentify(3, 0x00), "ZEROPAGE");
  EXPECT_STREQ(RmgrIdentify(4, 0x10), "CREATE_WAL_LOG");
  EXPECT_STREQ(RmgrIdentify(4, 0x20), "DROP");
  EXPECT_STREQ(RmgrIdentify(8, 0x10), "RUNNING_XACTS");
  EXPECT_STREQ(RmgrIdentify(11, 0x00), "INSERT_LEAF");
  EXPECT_STREQ(RmgrIdentify(11, 0xE0), "META_CLEANUP");
  EXPECT_STREQ(RmgrIdentify(13, 0x90), "VACUUM_DATA_LEAF_PAGE");
  EXPECT_STREQ(RmgrIdentify(14, 0x70), "ASSIGN_LSN");
  EXPECT_STREQ(RmgrIdentify(15, 0x00), "LOG");
  EXPECT_STREQ(RmgrIdentify(17, 0x90), "INSERT+INIT");
  EXPECT_STREQ(RmgrIdentify(20, 0x50), "Generic");
  EXPECT_STREQ(RmgrIdentify(21, 0x00), "MESSAGE");
}

TEST(RmgrNamesTest, CommitTsAndOriginLookAtTheWholeByte) {
  EXPECT_STREQ(RmgrIdentify(18, 0x10), "TRUNCATE");
  EXPECT_EQ(RmgrIdentify(18, 0x11), nullptr);
  EXPECT_STREQ(RmgrIdentify(19, 0x00), "SET");
  EXPECT_EQ(RmgrIdentify(19, 0x01), nullptr);
}

}  // namespace
}  // namespace walrep
