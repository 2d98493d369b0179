#include "replay/segment_stage.h"

#include <cerrno>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/file_ops.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using testing::ReadAll;
using testing::TempDir;

constexpr uint64_t kFileSize = uint64_t{256} << 10;
constexpr size_t kCapacity = size_t{64} << 10;

// A file of kFileSize bytes holding `prefix` then a pattern that is not zeros (stale
// bytes of a recycled file), opened read-write.
std::unique_ptr<File> MakeFile(FileOps* ops, const std::string& path, const std::string& prefix) {
  std::string content(kFileSize, '\xee');
  content.replace(0, prefix.size(), prefix);
  testing::WriteAll(path, content);
  auto f = ops->Open(path, FileOps::OpenMode::kReadWrite);
  EXPECT_TRUE(f.ok()) << f.status();
  return std::move(*f);
}

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 + i / 251);
  return s;
}

TEST(SegmentStageTest, FileHoldsEveryByteAppendedAndZerosToTheBlockEnd) {
  TempDir dir;
  const std::string path = dir.Join("seg");
  const std::string prefix = Pattern(5000, 'p');  // the write position mid-block
  auto file = MakeFile(DefaultFileOps(), path, prefix);
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(file.get(), prefix.size(), kFileSize).ok());
  std::string expect = prefix;
  // Pieces of odd sizes, written out at odd points, across several full buffers.
  const size_t sizes[] = {1, 8191, 100, 70000, 3, 4093, 65536, 9000};
  char seed = 'a';
  for (size_t n : sizes) {
    const std::string piece = Pattern(n, seed++);
    ASSERT_TRUE(stage.Append(piece).ok());
    expect += piece;
    ASSERT_EQ(stage.end(), expect.size());
    if (n % 2 == 1) {
      ASSERT_TRUE(stage.WriteOut().ok());
      const std::string on_disk = ReadAll(path);
      ASSERT_EQ(on_disk.substr(0, expect.size()), expect) << "after " << n;
      // Past the write position, to the end of its block: zeros, not the stale bytes.
      const size_t block_end = static_cast<size_t>(AlignUp(expect.size()));
      EXPECT_EQ(on_disk.substr(expect.size(), block_end - expect.size()),
                std::string(block_end - expect.size(), '\0'));
      // Beyond that block the file is untouched.
      EXPECT_EQ(on_disk[block_end], '\xee');
    }
  }
  ASSERT_TRUE(stage.End().ok());
  EXPECT_FALSE(stage.active());
  EXPECT_EQ(ReadAll(path).substr(0, expect.size()), expect);
  // After End the descriptor takes unaligned writes again.
  ASSERT_TRUE(file->WriteAt(expect.size(), "xyz").ok());
  EXPECT_EQ(ReadAll(path).substr(expect.size(), 3), "xyz");
  if (stage.direct_bytes() > 0) {
    // O_DIRECT was used: every byte went out in whole blocks.
    EXPECT_EQ(stage.direct_bytes() % kDirectIoAlignment, 0u);
  }
}

TEST(SegmentStageTest, FullBuffersReachTheFileBeforeAnyWriteOut) {
  TempDir dir;
  const std::string path = dir.Join("seg");
  auto file = MakeFile(DefaultFileOps(), path, "");
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(file.get(), 0, kFileSize).ok());
  const std::string data = Pattern(kCapacity + 10, 'q');
  ASSERT_TRUE(stage.Append(data).ok());
  // Overlay waits for the stage's thread, which has the full buffer.
  std::string read(20, '\0');
  stage.Overlay(kCapacity - 10, read.data(), read.size());
  EXPECT_EQ(read.substr(10), data.substr(kCapacity, 10));
  const std::string on_disk = ReadAll(path);
  EXPECT_TRUE(on_disk.substr(0, kCapacity) == data.substr(0, kCapacity));
  // The 10 bytes past the full buffer are only staged.
  EXPECT_EQ(on_disk.substr(kCapacity, 10), std::string(10, '\xee'));
}

TEST(SegmentStageTest, FillsTheFileToItsEndAndRefusesMore) {
  TempDir dir;
  const std::string path = dir.Join("seg");
  const std::string prefix = Pattern(12288, 'r');  // block-aligned start
  auto file = MakeFile(DefaultFileOps(), path, prefix);
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(file.get(), prefix.size(), kFileSize).ok());
  const std::string rest = Pattern(kFileSize - prefix.size(), 's');
  ASSERT_TRUE(stage.Append(rest).ok());
  // The last buffer ended at the file's end and went out whole.
  EXPECT_EQ(ReadAll(path), prefix + rest);
  absl::Status more = stage.Append("x");
  EXPECT_TRUE(absl::IsInvalidArgument(more)) << more;
}

TEST(SegmentStageTest, AWriteErrorIsReturnedAndTheFileKeepsWhatWasWritten) {
  TempDir dir;
  FaultInjectingFileOps ops(DefaultFileOps());
  const std::string path = dir.Join("seg");
  auto file = MakeFile(&ops, path, "");
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(file.get(), 0, kFileSize).ok());
  const std::string first = Pattern(kCapacity, 't');
  ASSERT_TRUE(stage.Append(first).ok());
  ASSERT_TRUE(stage.WriteOut().ok());  // waits for the thread's write of it
  // Every write from now on fails (the direct write and its buffered retry).
  ops.FailAfter(FaultInjectingFileOps::Op::kWrite, 0, ENOSPC);
  // The full buffer goes to the stage's thread; its failure comes back from the next
  // call, and stays.
  ASSERT_TRUE(stage.Append(Pattern(kCapacity, 'u')).ok());
  absl::Status s = stage.WriteOut();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
  EXPECT_TRUE(absl::IsResourceExhausted(stage.Append("more")));
  EXPECT_TRUE(absl::IsResourceExhausted(stage.End()));
  EXPECT_TRUE(ReadAll(path).substr(0, kCapacity) == first);
  stage.Drop();
  EXPECT_FALSE(stage.active());
}

// A File without a descriptor: O_DIRECT is unavailable, the stage goes through it anyway.
class NoDirectFile final : public File {
 public:
  explicit NoDirectFile(std::unique_ptr<File> base) : base_(std::move(base)) {}
  absl::Status WriteAt(uint64_t offset, absl::string_view data) override {
    ++writes;
    return base_->WriteAt(offset, data);
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t n, char* buf) override {
    return base_->ReadAt(offset, n, buf);
  }
  absl::StatusOr<uint64_t> Size() override { return base_->Size(); }
  absl::Status Sync() override { return base_->Sync(); }
  absl::Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  absl::Status Close() override { return base_->Close(); }
  const std::string& path() const override { return base_->path(); }
  int writes = 0;

 private:
  std::unique_ptr<File> base_;
};

TEST(SegmentStageTest, WithoutDirectIoTheSameBytesGoThroughThePageCache) {
  TempDir dir;
  const std::string path = dir.Join("seg");
  NoDirectFile file(MakeFile(DefaultFileOps(), path, "abc"));
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(&file, 3, kFileSize).ok());
  EXPECT_FALSE(stage.direct());
  const std::string data = Pattern(100000, 'v');
  ASSERT_TRUE(stage.Append(data).ok());
  ASSERT_TRUE(stage.End().ok());
  EXPECT_EQ(ReadAll(path).substr(0, 100003), "abc" + data);
  EXPECT_EQ(stage.direct_bytes(), 0u);
  EXPECT_EQ(file.writes, 2);  // one full buffer, then the rest at End
}

}  // namespace
}  // namespace walrep
