#include "tools/waldump/segment_files.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tools/waldump/test_files.h"

namespace walrep::waldump {
namespace {

using testing::TempDir;
using testing::WriteFile;

constexpr uint64_t k16M = uint64_t{16} << 20;

SegmentFile File(const std::string& name) {
  SegmentFile f;
  f.path = "/wal/" + name;
  f.name = name;
  f.partial = name.size() > 24;
  return f;
}

std::string LongHeader(uint32_t seg_size, uint16_t info = 0x0002) {
  std::string h(40, '\0');
  h[0] = static_cast<char>(0x10);
  h[1] = static_cast<char>(0xD1);
  h[2] = static_cast<char>(info & 0xFF);
  for (int i = 0; i < 4; ++i) h[32 + i] = static_cast<char>((seg_size >> (8 * i)) & 0xFF);
  return h;
}

TEST(SelectSegmentsTest, HighestTimelinePerSegmentInSegmentOrder) {
  auto got = SelectSegments({File("000000010000000000000003"), File("000000010000000100000000"),
                             File("000000020000000000000003"), File("000000010000000000000002")},
                            k16M, std::nullopt);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].segno, 2u);
  EXPECT_EQ((*got)[1].segno, 3u);
  EXPECT_EQ((*got)[1].tli, 2u);
  EXPECT_EQ((*got)[2].segno, 256u);  // log id 1, segment 0 at 16 MiB
}

TEST(SelectSegmentsTest, GivenTimelineOnly) {
  auto got = SelectSegments({File("000000010000000000000003"), File("000000020000000000000003"),
                             File("000000020000000000000004")},
                            k16M, TimelineId{1});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].tli, 1u);
  EXPECT_FALSE(SelectSegments({File("000000010000000000000003")}, k16M, TimelineId{3}).ok());
}

TEST(SelectSegmentsTest, CompleteFileBeatsPartialOfTheSameTimeline) {
  for (bool partial_first : {true, false}) {
    std::vector<SegmentFile> files = {File("000000010000000000000005.partial"),
                                      File("000000010000000000000005")};
    if (!partial_first) std::swap(files[0], files[1]);
    auto got = SelectSegments(files, k16M, std::nullopt);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_FALSE((*got)[0].partial);
  }
  auto only_partial = SelectSegments({File("000000010000000000000005.partial")}, k16M, {});
  ASSERT_TRUE(only_partial.ok());
  EXPECT_TRUE((*only_partial)[0].partial);
}

TEST(SelectSegmentsTest, SegmentFieldOutOfRangeForTheSize) {
  // 16 MiB segments: 256 per log id, so segment 0x100 cannot exist.
  auto got = SelectSegments({File("000000010000000000000100")}, k16M, std::nullopt);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListSegmentFilesTest, DirectoriesAndFiles) {
  TempDir dir;
  WriteFile(dir.Join("000000010000000000000002"), "x");
  WriteFile(dir.Join("000000010000000000000001"), "x");
  WriteFile(dir.Join("000000020000000000000002.partial"), "x");
  WriteFile(dir.Join("00000002.history"), "x");
  WriteFile(dir.Join("000000010000000000000003.tmp"), "x");
  std::filesystem::create_directory(dir.Join("archive_status"));
  auto listed = ListSegmentFiles({dir.path()});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->from_directory);
  ASSERT_EQ(listed->files.size(), 3u);
  EXPECT_EQ(listed->files[0].name, "000000010000000000000001");
  EXPECT_EQ(listed->files[1].name, "000000010000000000000002");
  EXPECT_EQ(listed->files[2].name, "000000020000000000000002.partial");
  EXPECT_TRUE(listed->files[2].partial);

  auto one = ListSegmentFiles({dir.Join("000000010000000000000002")});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_FALSE(one->from_directory);
  EXPECT_EQ(one->files.size(), 1u);

  EXPECT_FALSE(ListSegmentFiles({dir.Join("00000002.history")}).ok());
  EXPECT_FALSE(ListSegmentFiles({dir.Join("missing")}).ok());
  TempDir empty;
  EXPECT_FALSE(ListSegmentFiles({empty.path()}).ok());
}

TEST(ReadSegmentSizeTest, FromTheLongPageHeader) {
  TempDir dir;
  WriteFile(dir.Join("a"), LongHeader(1 << 20) + std::string(100, '\0'));
  auto size = ReadSegmentSize(dir.Join("a"));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, uint64_t{1} << 20);

  WriteFile(dir.Join("short"), LongHeader(1 << 20).substr(0, 30));
  EXPECT_EQ(ReadSegmentSize(dir.Join("short")).status().code(), absl::StatusCode::kDataLoss);
  WriteFile(dir.Join("not_long"), LongHeader(1 << 20, 0x0000));
  EXPECT_EQ(ReadSegmentSize(dir.Join("not_long")).status().code(), absl::StatusCode::kDataLoss);
  WriteFile(dir.Join("odd_size"), LongHeader(3 << 20));
  EXPECT_EQ(ReadSegmentSize(dir.Join("odd_size")).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace walrep::waldump
