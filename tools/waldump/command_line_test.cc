#include "tools/waldump/command_line.h"

#include "gtest/gtest.h"

namespace walrep::waldump {
namespace {

TEST(CommandLineTest, LongOptions) {
  auto cl = ParseCommandLine({"--start=0/1000028", "--end=1/A0", "--timeline=2", "--stats",
                              "pg_wal", "000000010000000000000001"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->dump.start, Lsn(0x1000028));
  EXPECT_EQ(cl->dump.end, Lsn(0x1000000A0ull));
  EXPECT_EQ(cl->timeline, TimelineId{2});
  EXPECT_TRUE(cl->dump.stats);
  EXPECT_FALSE(cl->dump.stats_per_record);
  EXPECT_EQ(cl->paths, (std::vector<std::string>{"pg_wal", "000000010000000000000001"}));
}

TEST(CommandLineTest, PgWaldumpShortFormsAndSeparateValues) {
  auto cl = ParseCommandLine({"-s", "0/10", "-e0/20", "-t", "0x1A", "-z", "--end", "0/30", "d"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->dump.start, Lsn(0x10));
  EXPECT_EQ(cl->dump.end, Lsn(0x30));  // the last one given wins
  EXPECT_EQ(cl->timeline, TimelineId{26});
  EXPECT_TRUE(cl->dump.stats);
}

TEST(CommandLineTest, StatsModes) {
  auto rec = ParseCommandLine({"--stats=record", "d"});
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->dump.stats_per_record);
  auto rmgr = ParseCommandLine({"--stats=rmgr", "d"});
  ASSERT_TRUE(rmgr.ok());
  EXPECT_TRUE(rmgr->dump.stats);
  EXPECT_FALSE(rmgr->dump.stats_per_record);
  EXPECT_FALSE(ParseCommandLine({"--stats=other", "d"}).ok());
}

TEST(CommandLineTest, Rejections) {
  EXPECT_FALSE(ParseCommandLine({}).ok());
  EXPECT_FALSE(ParseCommandLine({"--start=0/10"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--start=10", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--end", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--timeline=0", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--timeline=-1", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--timeline=4294967296", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--timeline=2x", "d"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--follow", "d"}).ok());
}

TEST(CommandLineTest, HelpAndPathsAfterDoubleDash) {
  auto help = ParseCommandLine({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
  auto cl = ParseCommandLine({"--", "--stats"});
  ASSERT_TRUE(cl.ok());
  EXPECT_FALSE(cl->dump.stats);
  EXPECT_EQ(cl->paths, (std::vector<std::string>{"--stats"}));
}

}  // namespace
}  // namespace walrep::waldump
