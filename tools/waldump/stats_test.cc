#include "tools/waldump/stats.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace walrep::waldump {
namespace {

WalRecord Record(uint8_t rmid, uint8_t info, uint32_t tot_len, uint32_t fpi_len) {
  WalRecord r;
  r.rmid = rmid;
  r.info = info;
  r.tot_len = tot_len;
  r.fpi_len = fpi_len;
  return r;
}

TEST(StatsTest, NothingCountedPrintsNothing) {
  WalStats stats;
  EXPECT_EQ(stats.Format(false), "");
  EXPECT_EQ(stats.Format(true), "");
}

TEST(StatsTest, RowMatchesPgWaldump) {
  const StatsCounts totals{24057, 3383235, 1807652};
  EXPECT_EQ(FormatStatsRow("Heap2", StatsCounts{2625, 545261, 358496}, totals),
            "Heap2                                       2625 ( 10.91)               545261 "
            "( 16.12)               358496 ( 19.83)               903757 ( 17.41)\n");
  EXPECT_EQ(FormatStatsRow("Hash", StatsCounts{}, StatsCounts{}),
            "Hash                                           0 (  0.00)                    0 "
            "(  0.00)                    0 (  0.00)                    0 (  0.00)\n");
}

// The table PostgreSQL 15.18's pg_waldump --stats printed for a fresh cluster's WAL,
// rebuilt from counts with the same per-rmgr totals.
TEST(StatsTest, TableMatchesPgWaldump) {
  struct Row {
    uint8_t rmid;
    uint64_t n, rec, fpi;
  };
  const Row rows[] = {{0, 318, 15980, 703508},
                      {1, 721, 197064, 0},
                      {2, 12, 504, 0},
                      {3, 1, 30, 0},
                      {4, 2, 84, 0},
                      {8, 407, 23830, 0},
                      {9, 2625, 545261, 358496},
                      {10, 5777, 1493885, 377176},
                      {11, 14194, 1106597, 368472}};
  WalStats stats;
  bool first = true;
  for (const Row& row : rows) {
    for (uint64_t i = 0; i < row.n; ++i) {
      // The first record of each manager carries its whole size; sizes per record do not
      // show in this table.
      WalRecord r = i == 0 ? Record(row.rmid, 0, static_cast<uint32_t>(row.rec + row.fpi),
                                    static_cast<uint32_t>(row.fpi))
                           : Record(row.rmid, 0, 0, 0);
      if (first) r.lsn = Lsn(0x1000028);
      first = false;
      r.end = Lsn(0x1500790);
      stats.Add(r);
    }
  }
  EXPECT_EQ(stats.count(), 24057u);
  EXPECT_EQ(stats.start(), Lsn(0x1000028));
  const std::string want =
      "WAL statistics between 0/1000028 and 0/1500790:\n"
      "Type                                           N      (%)          Record size      (%)     "
      "        FPI size      (%)        Combined size      (%)\n"
      "----                                           -      ---          -----------      ---     "
      "        --------      ---        -------------      ---\n"
      "XLOG                                         318 (  1.32)                15980 (  0.47)     "
      "          703508 ( 38.92)               719488 ( 13.86)\n"
      "Transaction                                  721 (  3.00)               197064 (  5.82)     "
      "               0 (  0.00)               197064 (  3.80)\n"
      "Storage                                       12 (  0.05)                  504 (  0.01)     "
      "               0 (  0.00)                  504 (  0.01)\n"
      "CLOG                                           1 (  0.00)                   30 (  0.00)     "
      "               0 (  0.00)                   30 (  0.00)\n"
      "Database                                       2 (  0.01)                   84 (  0.00)     "
      "               0 (  0.00)                   84 (  0.00)\n"
      "Tablespace                                     0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "MultiXact                                      0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "RelMap                                         0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "Standby                                      407 (  1.69)                23830 (  0.70)     "
      "               0 (  0.00)                23830 (  0.46)\n"
      "Heap2                                       2625 ( 10.91)               545261 ( 16.12)     "
      "          358496 ( 19.83)               903757 ( 17.41)\n"
      "Heap                                        5777 ( 24.01)              1493885 ( 44.16)     "
      "          377176 ( 20.87)              1871061 ( 36.05)\n"
      "Btree                                      14194 ( 59.00)              1106597 ( 32.71)     "
      "          368472 ( 20.38)              1475069 ( 28.42)\n"
      "Hash                                           0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "Gin                                            0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "Gist                                           0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "Sequence                                       0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "SPGist                                         0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "BRIN                                           0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "CommitTs                                       0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "ReplicationOrigin                              0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "Generic                                        0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "LogicalMessage                                 0 (  0.00)                    0 (  0.00)     "
      "               0 (  0.00)                    0 (  0.00)\n"
      "                                        --------                      --------              "
      "        --------                      --------\n"
      "Total                                      24057                       3383235 [65.18%]     "
      "         1807652 [34.82%]              5190887 [100%]\n";
  EXPECT_EQ(stats.Format(false), want);
}

TEST(StatsTest, PerRecordRowsNameTheTypeAndFoldTransactionFlags) {
  WalStats stats;
  stats.Add(Record(1, 0x00, 34, 0));    // COMMIT
  stats.Add(Record(1, 0x80, 66, 0));    // COMMIT with XLOG_XACT_HAS_INFO
  stats.Add(Record(10, 0x80, 59, 0));   // INSERT+INIT
  stats.Add(Record(0, 0xB0, 137, 88));  // FPI
  EXPECT_EQ(stats.record_type(1, 0).count, 2u);
  EXPECT_EQ(stats.record_type(1, 0).rec_len, 100u);
  const std::string table = stats.Format(true);
  EXPECT_TRUE(
      absl::StrContains(table, "\nXLOG/FPI                                       1 ( 25.00)"))
      << table;
  EXPECT_TRUE(
      absl::StrContains(table, "\nTransaction/COMMIT                             2 ( 50.00)"))
      << table;
  EXPECT_TRUE(
      absl::StrContains(table, "\nHeap/INSERT+INIT                               1 ( 25.00)"))
      << table;
  // Rows only for types seen: header (3 lines), 3 rows, separator, total.
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 8);
  EXPECT_TRUE(absl::StrContains(
      table,
      "Total                                          4         "
      "                  208 [70.27%]                   88 [29.73%]                  296 [100%]\n"))
      << table;
}

TEST(StatsTest, CustomManagersOnlyWhenSeen) {
  WalStats stats;
  stats.Add(Record(0, 0x30, 30, 0));
  EXPECT_FALSE(absl::StrContains(stats.Format(false), "custom"));
  stats.Add(Record(130, 0x00, 40, 0));
  EXPECT_TRUE(absl::StrContains(stats.Format(false), "\ncustom130  "));
  EXPECT_FALSE(absl::StrContains(stats.Format(false), "custom129"));
}

}  // namespace
}  // namespace walrep::waldump
