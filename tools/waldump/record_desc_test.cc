#include "tools/waldump/record_desc.h"

#include "gtest/gtest.h"

namespace walrep::waldump {
namespace {

WalBlockRef Block(uint8_t id, uint32_t spc, uint32_t db, uint32_t rel, uint32_t blk) {
  WalBlockRef b;
  b.id = id;
  b.spc = spc;
  b.db = db;
  b.rel = rel;
  b.block = blk;
  return b;
}

TEST(RecordDescTest, LsnTextPadsTheLowHalf) {
  EXPECT_EQ(LsnText(Lsn(0x01000028)), "0/01000028");
  EXPECT_EQ(LsnText(Lsn(0)), "0/00000000");
  EXPECT_EQ(LsnText(Lsn(0x1F00000001ull)), "1F/00000001");
}

// Lines as PostgreSQL 15.18's pg_waldump printed them for these records.
TEST(RecordDescTest, HintImageOfAFreeSpaceMapPage) {
  WalRecord r;
  r.rmid = 0;
  r.info = 0xA0;
  r.tot_len = 8241;
  r.fpi_len = 8192;
  r.xid = 1;
  r.lsn = Lsn(0x010000A0);
  r.prev = Lsn(0x01000028);
  WalBlockRef b = Block(0, 1663, 1, 1255, 2);
  b.fork = 1;
  b.has_image = b.apply_image = true;
  r.blocks.push_back(b);
  EXPECT_EQ(FormatRecordLine(r),
            "rmgr: XLOG        len (rec/tot):     49/  8241, tx:          1, lsn: 0/010000A0, "
            "prev 0/01000028, desc: FPI_FOR_HINT , blkref #0: rel 1663/1/1255 fork fsm blk 2 FPW");
}

TEST(RecordDescTest, RecordWithoutBlocksEndsWithTheSpaceAfterItsType) {
  WalRecord r;
  r.rmid = 0;
  r.info = 0x00;
  r.tot_len = 114;
  r.lsn = Lsn(0x01000028);
  EXPECT_EQ(FormatRecordLine(r),
            "rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/01000028, "
            "prev 0/00000000, desc: CHECKPOINT_SHUTDOWN ");
}

TEST(RecordDescTest, SeveralBlocksAndVerificationImages) {
  WalRecord r;
  r.rmid = 10;
  r.info = 0x40;
  r.tot_len = 300;
  r.fpi_len = 100;
  r.xid = 731;
  r.lsn = Lsn(0x0151A2D0);
  r.prev = Lsn(0x0151A298);
  WalBlockRef a = Block(0, 1663, 5, 16384, 7);
  a.has_image = true;  // wal_consistency_checking: not applied at replay
  r.blocks.push_back(a);
  WalBlockRef v = Block(1, 1663, 5, 16384, 0);
  v.fork = 2;
  r.blocks.push_back(v);
  EXPECT_EQ(FormatBlockRefs(r),
            ", blkref #0: rel 1663/5/16384 blk 7 FPW for WAL verification"
            ", blkref #1: rel 1663/5/16384 fork vm blk 0");
  EXPECT_EQ(FormatRecordLine(r),
            "rmgr: Heap        len (rec/tot):    200/   300, tx:        731, lsn: 0/0151A2D0, "
            "prev 0/0151A298, desc: HOT_UPDATE , blkref #0: rel 1663/5/16384 blk 7 FPW for WAL "
            "verification, blkref #1: rel 1663/5/16384 fork vm blk 0");
}

TEST(RecordDescTest, UnknownTypeAndWideFields) {
  WalRecord r;
  r.rmid = 130;
  r.info = 0x35;
  r.tot_len = 12345678;
  r.xid = 4294967295u;
  r.lsn = Lsn(0xABCDEF0012345678ull);
  r.prev = Lsn(0xABCDEF0012345600ull);
  EXPECT_EQ(FormatRecordLine(r),
            "rmgr: custom130   len (rec/tot): 12345678/12345678, tx: 4294967295, "
            "lsn: ABCDEF00/12345678, prev ABCDEF00/12345600, desc: UNKNOWN (30) ");
}

}  // namespace
}  // namespace walrep::waldump
