#include "replay/segment_stage.h"

#include <cerrno>
#include <cstring>
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

// A source standing in for the writer's recent ring: aligned memory of the whole file,
// which the test fills before each Append, as the writer fills the ring first. `lose`
// makes it forget everything (a source that broke its promise).
struct FakeSource {
  AlignedBuffer mem{kFileSize};
  uint64_t end = 0;  // bytes [0, end) are held
  bool lose = false;
  int calls = 0;
  SegmentStage::Source Get() {
    return [this](uint64_t offset, size_t n) {
      ++calls;
      if (lose || offset + n > end) return SegmentStage::Borrowed{};
      return SegmentStage::Borrowed{absl::string_view(mem.data() + offset, n), nullptr};
    };
  }
  void Put(uint64_t offset, absl::string_view bytes) {
    std::memcpy(mem.data() + offset, bytes.data(), bytes.size());
    end = offset + bytes.size();
  }
};

TEST(SegmentStageTest, BuffersAfterTheFirstAreWrittenFromTheSourcesMemory) {
  TempDir dir;
  const std::string path = dir.Join("seg");
  const std::string prefix = Pattern(5000, 'p');  // read back: the first buffer is a copy
  auto file = MakeFile(DefaultFileOps(), path, prefix);
  FakeSource src;
  src.Put(0, prefix);
  SegmentStage stage(kCapacity);
  ASSERT_TRUE(stage.Begin(file.get(), prefix.size(), kFileSize, src.Get()).ok());
  // The source's memory holds other bytes than those appended (never so in the writer):
  // what reaches the file tells which memory each write came from.
  std::string appended = prefix, lent = prefix;
  const size_t sizes[] = {70000, 3, 4093, 65536, 9001, 20000};
  char seed = 'a';
  for (size_t n : sizes) {
    const std::string piece = Pattern(n, seed);
    const std::string other = Pattern(n, static_cast<char>(seed + 100));
    ++seed;
    src.Put(appended.size(), other);
    ASSERT_TRUE(stage.Append(piece).ok());
    appended += piece;
    lent += other;
    if (n % 2 == 1) ASSERT_TRUE(stage.WriteOut().ok());
  }
  ASSERT_TRUE(stage.End().ok());
  const std::string on_disk = ReadAll(path);
  // The first buffer (to the first multiple of the capacity) is the stage's copy of what
  // was appended; from there on every byte is the source's.
  EXPECT_TRUE(on_disk.substr(0, kCapacity) == appended.substr(0, kCapacity));
  EXPECT_TRUE(on_disk.substr(kCapacity, lent.size() - kCapacity) == lent.substr(kCapacity));
  // Zeros to the end of the last block, the rest untouched.
  const size_t block_end = static_cast<size_t>(AlignUp(lent.size()));
  EXPECT_EQ(on_disk.substr(lent.size(), block_end - lent.size()),
            std::string(block_end - lent.size(), '\0'));
  EXPECT_EQ(on_disk[block_end], '\xee');
  // Every whole block after the first buffer was written from the source, once.
  EXPECT_EQ(stage.borrowed_bytes(), AlignDown(lent.size()) - kCapacity);
}

// A stage on a fresh file at offset 0, lent its bytes by `src`.
struct BorrowingStage {
  TempDir dir;
  const std::string path = dir.Join("seg");
  std::unique_ptr<File> file = MakeFile(DefaultFileOps(), path, "");
  FakeSource src;
  SegmentStage stage{kCapacity};
  absl::Status Begin() { return stage.Begin(file.get(), 0, kFileSize, src.Get()); }
};

TEST(SegmentStageTest, OverlayOfABorrowedBufferReadsTheSource) {
  BorrowingStage b;
  ASSERT_TRUE(b.Begin().ok());
  FakeSource& src = b.src;
  SegmentStage& stage = b.stage;
  const std::string data = Pattern(kCapacity + 10, 'q');
  src.Put(0, data);
  ASSERT_TRUE(stage.Append(data).ok());
  std::string read(20, '\0');
  stage.Overlay(kCapacity - 10, read.data(), read.size());
  EXPECT_EQ(read.substr(10), data.substr(kCapacity, 10));
}

TEST(SegmentStageTest, ASourceThatLosesTheBytesFailsTheWriteAndNothingElseIsWritten) {
  BorrowingStage b;
  ASSERT_TRUE(b.Begin().ok());
  FakeSource& src = b.src;
  SegmentStage& stage = b.stage;
  TempDir& dir = b.dir;
  const std::string& path = b.path;
  const std::string data = Pattern(1000, 'l');
  src.Put(0, data);
  ASSERT_TRUE(stage.Append(data).ok());  // borrowed: the source has it
  src.lose = true;
  absl::Status s = stage.WriteOut();
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_NE(s.message().find("no longer in memory"), std::string::npos) << s;
  EXPECT_EQ(ReadAll(path).substr(0, 1000), std::string(1000, '\xee'));
  stage.Drop();
  // A source with nothing for a buffer's first bytes: the stage copies them itself.
  auto file2 = MakeFile(DefaultFileOps(), dir.Join("seg2"), "");
  FakeSource none;
  ASSERT_TRUE(stage.Begin(file2.get(), 0, kFileSize, none.Get()).ok());
  ASSERT_TRUE(stage.Append(data).ok());
  ASSERT_TRUE(stage.End().ok());
  EXPECT_EQ(ReadAll(dir.Join("seg2")).substr(0, 1000), data);
  EXPECT_GT(none.calls, 0);
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
