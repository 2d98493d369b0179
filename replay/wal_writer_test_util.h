// What the WalWriter tests share (wal_writer_test.cc, wal_writer_catchup_test.cc): valid
// WAL in 1 MiB segments with every record's start and end, and a fixture that makes a
// writer in a temp directory and names its files.
#ifndef WALREP_REPLAY_WAL_WRITER_TEST_UTIL_H_
#define WALREP_REPLAY_WAL_WRITER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/wal_test_builder.h"
#include "replay/wal_writer.h"

namespace walrep::wal_writer_testing {

using ::testing::HasSubstr;
using Op = FaultInjectingFileOps::Op;
using walrep::testing::TempDir;

inline constexpr uint64_t kSeg = kMinSegmentSize;  // 1 MiB keeps the tests fast

// Valid WAL (1 MiB segments) from segment 1 to past segment 6, with the start and end
// of every record, so tests can cut it anywhere and know where records end.
struct TestWal {
  std::string bytes;        // bytes[i] is the WAL byte at LSN kSeg + i
  std::vector<Lsn> starts;  // record starts
  std::vector<Lsn> ends;    // record ends
};
inline const TestWal& Wal() {
  static const TestWal* wal = [] {
    WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
    auto* w = new TestWal;
    for (int i = 0; b.end().value() < 7 * kSeg; ++i) {
      w->starts.push_back(b.Add(10, 0, 100 + i, std::string(50 + (i * 131) % 3000, 'a' + i % 26)));
      w->ends.push_back(b.end());
    }
    w->bytes = b.bytes();
    return w;
  }();
  return *wal;
}

// The WAL bytes at [start, start + n).
inline std::string Bytes(Lsn start, size_t n) { return Wal().bytes.substr(start.value() - kSeg, n); }
// End of the last record ending at or before `lsn` (what may be reported as flushed).
inline Lsn EndAtOrBefore(Lsn lsn) {
  Lsn best;
  for (Lsn e : Wal().ends) {
    if (e <= lsn) best = e;
  }
  return best;
}
// The start of the record that ends at `end`.
inline Lsn StartOf(Lsn end) {
  for (size_t i = 0; i < Wal().ends.size(); ++i) {
    if (Wal().ends[i] == end) return Wal().starts[i];
  }
  return Lsn();
}

class WalWriterTest : public ::testing::Test {
 protected:
  std::unique_ptr<WalWriter> Make(WalWriter::Layout layout = WalWriter::Layout::kArchive,
                                  FileOps* ops = nullptr) {
    WalWriter::Options o;
    o.dir = dir_.Join("wal");
    o.segment_size = kSeg;
    o.layout = layout;
    o.file_ops = ops;
    o.on_flush = [this](Lsn l) { flushed_.push_back(l); };
    auto w = WalWriter::Create(std::move(o));
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  }
  std::string Wal(const std::string& name) const { return dir_.Join("wal/" + name); }
  std::string Seg(TimelineId tli, uint64_t segno) const {
    return Wal(SegmentFileName(tli, segno, kSeg));
  }
  std::string Partial(TimelineId tli, uint64_t segno) const {
    return Wal(PartialSegmentFileName(tli, segno, kSeg));
  }
  absl::Status AppendRange(WalWriter& w, Lsn start, size_t n) {
    return w.Append(start, Bytes(start, n));
  }

  TempDir dir_;
  std::vector<Lsn> flushed_;
};

}  // namespace walrep::wal_writer_testing

#endif  // WALREP_REPLAY_WAL_WRITER_TEST_UTIL_H_
