#include "replay/timeline_history.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

TEST(ParseHistoryFileContentTest, PostgresFormat) {
  auto e = ParseHistoryFileContent(
      "1\t0/3000158\tno recovery target specified\n"
      "\n"
      "# a comment\n"
      "  2\t0/5000000\tat restore point \"x\"\n"
      "3 1/A0 \n");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0], (HistoryFileEntry{1, Lsn(0x3000158), "no recovery target specified"}));
  EXPECT_EQ((*e)[1], (HistoryFileEntry{2, Lsn(0x5000000), "at restore point \"x\""}));
  EXPECT_EQ((*e)[2], (HistoryFileEntry{3, Lsn(0x1000000A0), ""}));
}

TEST(ParseHistoryFileContentTest, EmptyAndCommentsOnly) {
  EXPECT_TRUE(ParseHistoryFileContent("")->empty());
  EXPECT_TRUE(ParseHistoryFileContent("# x\n\n   \n")->empty());
}

TEST(ParseHistoryFileContentTest, RejectsBadContent) {
  for (const char* bad : {"x\t0/1\n", "1\n", "1\t\n", "1\tzz\n", "1\t0/1\n1\t0/2\n",
                          "2\t0/1\n1\t0/2\n", "1\t0/5\n2\t0/4\n", "0\t0/1\n",
                          "99999999999\t0/1\n", "1x\t0/1\n", "1\t0/1/2\n"}) {
    EXPECT_EQ(ParseHistoryFileContent(bad).status().code(), absl::StatusCode::kDataLoss)
        << bad;
  }
  EXPECT_EQ(ParseHistoryFileContent(std::string(kMaxHistoryFileBytes + 1, '#')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildPromotionHistoryContentTest, AppendsParentLine) {
  auto first = BuildPromotionHistoryContent("", 1, Lsn(0x3000158), "promoted by walrep");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "1\t0/3000158\tpromoted by walrep\n");
  // A parent without a final newline still yields one line per entry.
  auto second = BuildPromotionHistoryContent("1\t0/3000158\tx", 2, Lsn(0x10000000), "y");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "1\t0/3000158\tx\n2\t0/10000000\ty\n");
  auto parsed = ParseHistoryFileContent(*second);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->back().tli, 2u);
}

TEST(BuildPromotionHistoryContentTest, RejectsInconsistentInput) {
  EXPECT_FALSE(BuildPromotionHistoryContent("2\t0/5\tx\n", 2, Lsn(9), "r").ok());
  EXPECT_FALSE(BuildPromotionHistoryContent("1\t0/5\tx\n", 2, Lsn(4), "r").ok());
  EXPECT_FALSE(BuildPromotionHistoryContent("", 1, Lsn(4), "two\nlines").ok());
  EXPECT_FALSE(BuildPromotionHistoryContent("garbage", 1, Lsn(4), "r").ok());
  EXPECT_FALSE(BuildPromotionHistoryContent("", 0, Lsn(4), "r").ok());
}

TEST(HistoryFileTest, WriteAndReadBack) {
  TempDir dir;
  const std::string content = "1\t0/3000158\tno recovery target specified\n";
  ASSERT_TRUE(WriteHistoryFile(dir.path(), 2, content).ok());
  EXPECT_EQ(testing::ReadAll(dir.Join("00000002.history")), content);
  auto back = ReadHistoryFile(dir.path(), 2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, content);
  EXPECT_EQ(ReadHistoryFile(dir.path(), 3).status().code(), absl::StatusCode::kNotFound);
}

TEST(HistoryFileTest, RejectsMismatchedContent) {
  TempDir dir;
  EXPECT_EQ(WriteHistoryFile(dir.path(), 1, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteHistoryFile(dir.path(), 2, "2\t0/1\tx\n").code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(WriteHistoryFile(dir.path(), 2, "bad").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(testing::List(dir.path()).empty());
}

}  // namespace
}  // namespace walrep
