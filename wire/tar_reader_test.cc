#include "wire/tar_reader.h"
#include "wire/testing/tar_builder.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string ReadTestFile(const std::string& name) {
  std::ifstream in("wire/testdata/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Records events as text, checking the sink contract on the way.
class RecordingSink : public TarSink {
 public:
  absl::Status OnMember(const TarMember& m) override {
    EXPECT_FALSE(in_member_);
    in_member_ = true;
    current_.clear();
    expected_ = m.size;
    const char* type = m.type == TarMember::Type::kRegular     ? "f"
                       : m.type == TarMember::Type::kDirectory ? "d"
                                                               : "l";
    events.push_back(
        absl::StrCat(type, " ", m.name, m.linkname.empty() ? "" : " -> ", m.linkname, " ", m.size));
    members.push_back(m);
    return absl::OkStatus();
  }
  absl::Status OnData(absl::string_view bytes) override {
    EXPECT_TRUE(in_member_);
    EXPECT_FALSE(bytes.empty());
    current_.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  absl::Status OnMemberEnd() override {
    EXPECT_TRUE(in_member_);
    EXPECT_EQ(current_.size(), expected_);
    in_member_ = false;
    contents.push_back(current_);
    return absl::OkStatus();
  }

  std::vector<std::string> events;
  std::vector<TarMember> members;
  std::vector<std::string> contents;

 private:
  bool in_member_ = false;
  std::string current_;
  uint64_t expected_ = 0;
};

absl::Status FeedInChunks(absl::string_view data, size_t chunk, TarReader* reader, TarSink* sink) {
  while (!data.empty()) {
    size_t n = std::min(chunk, data.size());
    absl::Status s = reader->Feed(data.substr(0, n), sink);
    if (!s.ok()) return s;
    data.remove_prefix(n);
  }
  return reader->Finish();
}

using ::walrep::testing::PaxRecord;
using ::walrep::testing::TarBuilder;

const std::vector<std::string> kGnuFixtureEvents = {
    "d d/ 0",
    "f d/empty 0",
    absl::StrCat("l d/longlink -> ", std::string(120, 't'), " 0"),
    absl::StrCat("f d/", std::string(150, 'n'), " 6"),
    "d d/sub/ 0",
    "f d/sub/kilo 1000",
    "l d/sub/rel -> ../kilo 0",
};

TEST(TarReaderTest, GnuAndPaxFixturesAtEveryChunkSize) {
  for (const char* file : {"gnu_longnames.tar", "pax_longnames.tar"}) {
    std::string tar = ReadTestFile(file);
    for (size_t chunk : {1, 3, 511, 512, 513, 4096, 1 << 20}) {
      TarReader reader;
      RecordingSink sink;
      ASSERT_TRUE(FeedInChunks(tar, chunk, &reader, &sink).ok()) << file << " " << chunk;
      EXPECT_EQ(sink.events, kGnuFixtureEvents) << file;
      EXPECT_TRUE(reader.saw_end_marker());
      EXPECT_EQ(sink.contents[3], "hello\n");
      EXPECT_EQ(sink.contents[5], std::string(1000, 'x'));
      EXPECT_EQ(sink.members[5].mtime, 1700000000);
      EXPECT_EQ(sink.members[5].mode, 0644u);
    }
  }
}

TEST(TarReaderTest, PostgresTablespaceArchive) {
  std::string tar = ReadTestFile("pg15_tablespace.tar");
  TarReader reader;
  RecordingSink sink;
  ASSERT_TRUE(FeedInChunks(tar, 777, &reader, &sink).ok());
  ASSERT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(sink.events[2], "f PG_15_202209061/5/16385 8192");
  EXPECT_EQ(sink.members[0].type, TarMember::Type::kDirectory);
}

// PostgreSQL 12-14 omit the trailer: the end of input at a member boundary is the end.
TEST(TarReaderTest, MissingTrailerAtMemberBoundaryIsOk) {
  TarBuilder b;
  b.File("a", "123").File("b", std::string(600, 'y'));
  TarReader reader;
  RecordingSink sink;
  EXPECT_TRUE(FeedInChunks(b.out, 100, &reader, &sink).ok());
  EXPECT_FALSE(reader.saw_end_marker());
  EXPECT_EQ(reader.members(), 2u);
}

TEST(TarReaderTest, TruncationInsideMemberNamesIt) {
  TarBuilder b;
  b.File("a", "123").File("base/1/1259", std::string(600, 'y')).Trailer();
  for (size_t cut : {size_t{1024 + 512 + 10}, size_t{1024 + 512 + 600}, size_t{1024 + 1024 - 1}}) {
    TarReader reader;
    RecordingSink sink;
    absl::Status s = FeedInChunks(absl::string_view(b.out).substr(0, cut), 64, &reader, &sink);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << cut;
    EXPECT_EQ(s.message(), "archive truncated in member base/1/1259") << cut;
  }
  TarReader reader;
  RecordingSink sink;
  absl::Status s = FeedInChunks(absl::string_view(b.out).substr(0, 700), 64, &reader, &sink);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
}

TEST(TarReaderTest, HeaderChecksumMismatchIsDataLoss) {
  TarBuilder b;
  b.File("a", "123").Trailer();
  b.out[5] = 'X';
  TarReader reader;
  RecordingSink sink;
  EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(sink.events.empty());
  // Sticky.
  EXPECT_EQ(reader.Feed("x", &sink).code(), absl::StatusCode::kDataLoss);
}

TEST(TarReaderTest, HardLinkAndDevicesRejected) {
  for (char type : {'1', '3', '4', '6', 'S'}) {
    TarBuilder b;
    b.Header("x", type, 0, "y").Trailer();
    TarReader reader;
    RecordingSink sink;
    EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kInvalidArgument)
        << type;
  }
}

TEST(TarReaderTest, PaxOverridesPathLinkAndSize) {
  std::string long_path = std::string(300, 'p');
  TarBuilder b;
  b.Pax(PaxRecord("path", long_path) + PaxRecord("size", "5") + PaxRecord("mtime", "12.5") +
        PaxRecord("comment", "ignored"))
      .Header("short", '0', 0)
      .Data("hello")
      .Pax(PaxRecord("linkpath", "/some/where"))
      .Header("pg_tblspc/16384", '2', 0, "ignored")
      .Header("g", 'g', 3)
      .Data("abc")
      .File("after", "z")
      .Trailer();
  TarReader reader;
  RecordingSink sink;
  ASSERT_TRUE(FeedInChunks(b.out, 1, &reader, &sink).ok());
  ASSERT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(sink.events[0], absl::StrCat("f ", long_path, " 5"));
  EXPECT_EQ(sink.members[0].mtime, 12);
  EXPECT_EQ(sink.contents[0], "hello");
  EXPECT_EQ(sink.events[1], "l pg_tblspc/16384 -> /some/where 0");
  EXPECT_EQ(sink.events[2], "f after 1");
}

TEST(TarReaderTest, BadPaxRecordsAreDataLoss) {
  for (std::string rec :
       {std::string("5 a=b\n"), std::string("x path=a\n"), std::string("99 path=a\n"),
        std::string("10 path=a\nX"), PaxRecord("size", "-1"), PaxRecord("size", "abc"),
        std::string("8 =abc\n")}) {
    TarBuilder b;
    b.Pax(rec).File("f", "").Trailer();
    TarReader reader;
    RecordingSink sink;
    EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kDataLoss) << rec;
  }
}

TEST(TarReaderTest, ExtendedHeaderCaps) {
  TarReader::Options options;
  options.max_long_name = 100;
  TarBuilder b;
  b.Header("././@LongLink", 'L', 101).Data(std::string(101, 'a')).File("x", "").Trailer();
  TarReader reader(options);
  RecordingSink sink;
  EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kInvalidArgument);

  TarBuilder pax;
  pax.Header("h", 'x', uint64_t{1} << 40);
  TarReader reader2;
  EXPECT_EQ(reader2.Feed(pax.out, &sink).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TarReaderTest, Base256Size) {
  TarBuilder b;
  b.RawHeader("big", '0', 700, "", /*base256_size=*/true).Data(std::string(700, 'q')).Trailer();
  TarReader reader;
  RecordingSink sink;
  ASSERT_TRUE(FeedInChunks(b.out, 300, &reader, &sink).ok());
  EXPECT_EQ(sink.events[0], "f big 700");

  // A base-256 size beyond int64 is refused before anything is read.
  TarBuilder huge;
  huge.RawHeader("huge", '0', 0, "", true);
  huge.out[124] = static_cast<char>(0x80);
  huge.out[127] = 1;  // 2^64 and more
  std::memset(&huge.out[148], ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(huge.out[i]);
  std::snprintf(&huge.out[148], 8, "%06o", sum);
  TarReader reader2;
  EXPECT_EQ(reader2.Feed(huge.out, &sink).code(), absl::StatusCode::kDataLoss);
}

TEST(TarReaderTest, EndOfArchive) {
  TarBuilder ok;
  ok.File("a", "1").Trailer();
  std::string padded = ok.out + std::string(8192, '\0');
  TarReader reader;
  RecordingSink sink;
  EXPECT_TRUE(FeedInChunks(padded, 1000, &reader, &sink).ok());

  TarReader reader2;
  EXPECT_EQ(FeedInChunks(ok.out + "junk", 1000, &reader2, &sink).code(),
            absl::StatusCode::kDataLoss);

  // One zero block and then another member is not a tar this reader trusts.
  TarBuilder zero_in_middle;
  zero_in_middle.File("a", "1");
  zero_in_middle.out.append(512, '\0');
  zero_in_middle.File("b", "2");
  TarReader reader3;
  EXPECT_EQ(FeedInChunks(zero_in_middle.out, 512, &reader3, &sink).code(),
            absl::StatusCode::kDataLoss);

  // An extended header with nothing after it is a truncated archive.
  TarBuilder dangling;
  dangling.Pax(PaxRecord("path", "x"));
  TarReader reader4;
  EXPECT_EQ(FeedInChunks(dangling.out, 512, &reader4, &sink).code(), absl::StatusCode::kDataLoss);
}

TEST(TarReaderTest, DirectoryWithSizeIsDataLoss) {
  TarBuilder b;
  b.Header("dir/", '5', 10).Trailer();
  TarReader reader;
  RecordingSink sink;
  EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kDataLoss);
}

class FailingSink : public RecordingSink {
 public:
  absl::Status OnData(absl::string_view) override {
    return absl::ResourceExhaustedError("disk full");
  }
};

TEST(TarReaderTest, SinkErrorStopsTheReader) {
  TarBuilder b;
  b.File("a", "123").Trailer();
  TarReader reader;
  FailingSink sink;
  EXPECT_EQ(FeedInChunks(b.out, 512, &reader, &sink).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reader.Feed(std::string(512, '\0'), &sink).code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace walrep
