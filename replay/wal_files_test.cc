#include "replay/wal_files.h"

#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"

namespace walrep {
namespace {

constexpr uint64_t kSeg = kMinSegmentSize;

// A file system that takes the O_DIRECT flag but refuses the reads (EINVAL): a large
// Pull falls back to the page cache for good and feeds the same bytes, so replay goes on.
TEST(WalFileFeederTest, DirectReadsRefusedFallBackToThePageCache) {
  testing::TempDir dir;
  WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
  while (b.end().value() < kSeg + kSeg / 2) b.Add(10, 0, 1, std::string(900, 'h'));
  const std::string wal = b.PaddedToSegment();
  testing::WriteAll(dir.Join(SegmentFileName(1, 1, kSeg)), wal);

  FaultInjectingFileOps ops;
  ops.FailAfter(FaultInjectingFileOps::Op::kDirectRead, 0, EINVAL);
  WalFileFeeder feeder(dir.path(), kSeg, &ops);
  feeder.set_chain(TimelineChain{{{1, Lsn()}}});
  WalDecoder::Options o;
  o.segment_size = kSeg;
  WalDecoder decoder(o);
  decoder.ResetAtPage(b.start());
  uint64_t fed = 0;
  while (fed < kSeg) {
    absl::StatusOr<size_t> n = feeder.Pull(&decoder, b.start() + kSeg);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    fed += *n;
    WalRecord rec;
    while (decoder.Next(&rec) == WalDecoder::Result::kRecord) {
    }
  }
  EXPECT_EQ(fed, kSeg);
  EXPECT_EQ(decoder.last_end(), b.end());
  // Refused once (when the file system took the flag at all): never tried again.
  const int refused = ops.calls(FaultInjectingFileOps::Op::kDirectRead);
  EXPECT_LE(refused, 1);
}

}  // namespace
}  // namespace walrep
