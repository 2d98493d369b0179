#include "tools/waldump/dump.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "replay/segment.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"
#include "tools/waldump/record_desc.h"
#include "tools/waldump/test_files.h"

namespace walrep::waldump {
namespace {

using testing::TempDir;
using testing::WriteFile;

constexpr uint64_t kSeg = uint64_t{1} << 20;
constexpr uint8_t kRmHeap = 10;

TEST(RecordDataEndTest, StepsOverPageHeaders) {
  // Inside one page.
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg + 40), 100, kSeg), Lsn(kSeg + 140));
  // Exactly to the page end: no next header is needed.
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg + 8192 - 24), 24, kSeg), Lsn(kSeg + 8192));
  // Across one short header.
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg + 8192 - 24), 64, kSeg), Lsn(kSeg + 8192 + 24 + 40));
  // Across a segment boundary: the long header.
  EXPECT_EQ(RecordDataEnd(Lsn(2 * kSeg - 8), 16, kSeg), Lsn(2 * kSeg + 40 + 8));
  // Several pages: 8152 bytes fit after a short header.
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg + 8192 + 24), 2 * 8168 + 10, kSeg),
            Lsn(kSeg + 3 * 8192 + 24 + 10));
  // Starting on a page boundary: that page's header comes first.
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg + 8192), 24, kSeg), Lsn(kSeg + 8192 + 48));
  EXPECT_EQ(RecordDataEnd(Lsn(kSeg), 24, kSeg), Lsn(kSeg + 64));
}

// WAL written by WalTestBuilder into 1 MiB segment files, and RunDump's output.
class DumpTest : public ::testing::Test {
 protected:
  DumpTest() : builder_(WalTestBuilder::Options{}) {}

  // Records of `size` bytes of main data, Heap INSERTs with xid 700 + i.
  void AddRecords(int n, size_t size) {
    for (int i = 0; i < n; ++i) {
      records_.push_back(builder_.Add(kRmHeap, 0x00, 700 + static_cast<uint32_t>(records_.size()),
                                      std::string(size, 'r')));
    }
  }

  // Writes the WAL as segment files; `skip` names segment numbers left out.
  std::vector<SegmentFile> WriteSegments(std::vector<uint64_t> skip = {}) {
    const std::string wal = builder_.PaddedToSegment();
    std::vector<SegmentFile> files;
    for (uint64_t off = 0; off < wal.size(); off += kSeg) {
      const uint64_t segno = (builder_.start().value() + off) / kSeg;
      if (std::find(skip.begin(), skip.end(), segno) != skip.end()) continue;
      SegmentFile f;
      f.name = SegmentFileName(1, segno, kSeg);
      f.path = dir_.Join(f.name);
      f.tli = 1;
      f.segno = segno;
      WriteFile(f.path, wal.substr(off, kSeg));
      files.push_back(f);
    }
    return files;
  }

  absl::Status Run(const DumpOptions& options, const std::vector<SegmentFile>& files) {
    char* out_buf = nullptr;
    char* info_buf = nullptr;
    size_t out_len = 0, info_len = 0;
    std::FILE* out = open_memstream(&out_buf, &out_len);
    std::FILE* info = open_memstream(&info_buf, &info_len);
    absl::Status st = RunDump(options, files, kSeg, out, info);
    std::fclose(out);
    std::fclose(info);
    out_.assign(out_buf, out_len);
    info_.assign(info_buf, info_len);
    std::free(out_buf);
    std::free(info_buf);
    return st;
  }

  // The LSNs of the printed record lines.
  std::vector<std::string> PrintedLsns() const {
    std::vector<std::string> lsns;
    for (absl::string_view line : absl::StrSplit(out_, '\n', absl::SkipEmpty())) {
      const size_t at = line.find(", lsn: ");
      EXPECT_NE(at, absl::string_view::npos) << line;
      if (at == absl::string_view::npos) continue;
      lsns.emplace_back(line.substr(at + 7, line.find(',', at + 7) - at - 7));
    }
    return lsns;
  }

  std::vector<std::string> Lsns(size_t from, size_t to) const {
    std::vector<std::string> out;
    for (size_t i = from; i < to; ++i) out.push_back(LsnText(records_[i]));
    return out;
  }

  TempDir dir_;
  WalTestBuilder builder_;
  std::vector<Lsn> records_;
  std::string out_, info_;
};

TEST_F(DumpTest, EveryRecordAcrossSegmentsUpToEnd) {
  AddRecords(600, 3000);  // about 1.8 MiB: two segments
  const auto files = WriteSegments();
  ASSERT_EQ(files.size(), 2u);
  DumpOptions options;
  options.end = builder_.end();
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(0, records_.size()));
  EXPECT_TRUE(
      absl::StartsWith(out_, "rmgr: Heap        len (rec/tot):   3029/  3029, tx:        700"))
      << out_.substr(0, 200);
  EXPECT_EQ(info_, "");
}

TEST_F(DumpTest, WithoutEndTheEndOfWalIsAnError) {
  AddRecords(20, 100);
  const auto files = WriteSegments();
  absl::Status st = Run(DumpOptions{}, files);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StartsWith(
      st.message(), "error in WAL record at " + records_.back().ToString() + ": end of WAL at "))
      << st;
  EXPECT_EQ(PrintedLsns().size(), 20u);
}

TEST_F(DumpTest, EndInsideARecordOrAtItsStartStopsBeforeIt) {
  AddRecords(50, 500);
  const auto files = WriteSegments();
  DumpOptions options;
  options.end = records_[30] + 10;
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(0, 30));
  options.end = records_[30];
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(0, 30));
  // The last byte of record 30 (xl_tot_len 529, less any page header in between).
  options.end = RecordDataEnd(records_[30], 529, kSeg);
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(0, 31));
}

TEST_F(DumpTest, StartInsideARecordSkipsToTheNextOne) {
  AddRecords(50, 500);
  const auto files = WriteSegments();
  DumpOptions options;
  options.start = records_[20] + 8;
  options.end = builder_.end();
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(21, 50));
  EXPECT_EQ(info_, "walrep_waldump: first record is after " + options.start->ToString() + ", at " +
                       records_[21].ToString() + ", skipping over " +
                       std::to_string(records_[21] - *options.start) + " bytes\n");

  options.start = records_[20];
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(20, 50));
  EXPECT_EQ(info_, "");
}

TEST_F(DumpTest, StartAtASegmentThatBeginsMidRecord) {
  AddRecords(600, 3000);
  const auto files = WriteSegments();
  DumpOptions options;
  options.start = Lsn(2 * kSeg);
  options.end = builder_.end();
  ASSERT_TRUE(Run(options, files).ok());
  size_t first = 0;
  while (records_[first] < *options.start) ++first;
  EXPECT_EQ(PrintedLsns(), Lsns(first, records_.size()));
  EXPECT_EQ(info_, "");  // pg_waldump says nothing for a segment start either
}

TEST_F(DumpTest, NoWholeRecordBeforeEndIsAnError) {
  AddRecords(5, 100);
  const auto files = WriteSegments();
  DumpOptions options;
  options.start = records_[2];
  options.end = records_[2] + 30;
  absl::Status st = Run(options, files);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(st.message(), "could not find a valid record after " + records_[2].ToString());
  EXPECT_EQ(out_, "");
}

TEST_F(DumpTest, StartOutsideTheFiles) {
  AddRecords(5, 100);
  const auto files = WriteSegments();
  DumpOptions options;
  options.start = Lsn(5 * kSeg);
  EXPECT_EQ(Run(options, files).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DumpTest, MissingSegmentEndsTheInput) {
  AddRecords(700, 3000);  // three segments, the middle one left out
  const auto files = WriteSegments({2});
  ASSERT_EQ(files.size(), 2u);
  DumpOptions options;
  options.end = builder_.end();
  absl::Status st = Run(options, files);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(st.message(), "no segment file holds 0/200000")) << st;
  EXPECT_FALSE(PrintedLsns().empty());
}

TEST_F(DumpTest, SwitchRecordAndTheSegmentAfterIt) {
  AddRecords(10, 100);
  const Lsn sw = builder_.AddSwitch();
  AddRecords(10, 100);
  const auto files = WriteSegments();
  ASSERT_EQ(files.size(), 2u);
  DumpOptions options;
  options.end = builder_.end();
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_TRUE(absl::StrContains(
      out_, "lsn: " + LsnText(sw) + ", prev " + LsnText(records_[9]) + ", desc: SWITCH \n"))
      << out_;
  EXPECT_EQ(PrintedLsns().size(), 21u);
}

// A record whose 24-byte header ends exactly at a page end, its data on the next page.
TEST_F(DumpTest, RecordHeaderEndingAtAPageEnd) {
  const uint64_t page_end = builder_.start().value() + kWalPageSize;
  while (builder_.end().value() < page_end - kRecordHeaderSize) {
    const uint64_t room = page_end - kRecordHeaderSize - builder_.end().value();
    // xl_tot_len = 24 + 2 + data (short main data), MAXALIGNed to land exactly.
    const uint64_t tot = room > 256 ? 200 : room;
    records_.push_back(builder_.Add(kRmHeap, 0x00, 1, std::string(tot - 26, 'a')));
  }
  ASSERT_EQ(builder_.end().value(), page_end - kRecordHeaderSize);
  AddRecords(5, 40);
  const auto files = WriteSegments();
  DumpOptions options;
  options.end = builder_.end();
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_EQ(PrintedLsns(), Lsns(0, records_.size()));
}

TEST_F(DumpTest, StatsInsteadOfRecords) {
  AddRecords(30, 100);
  const auto files = WriteSegments();
  DumpOptions options;
  options.end = builder_.end();
  options.stats = true;
  ASSERT_TRUE(Run(options, files).ok());
  EXPECT_TRUE(absl::StartsWith(out_, "WAL statistics between " + records_[0].ToString() + " and " +
                                         builder_.end().ToString() + ":\n"))
      << out_;
  EXPECT_TRUE(
      absl::StrContains(out_, "\nHeap                                          30 (100.00)"))
      << out_;
  EXPECT_FALSE(absl::StrContains(out_, "rmgr: "));
}

}  // namespace
}  // namespace walrep::waldump
