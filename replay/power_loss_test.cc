// Simulated power loss during a streaming run. The WAL writer streams a primary's WAL
// (records of many sizes, one larger than a segment, segment seals, an XLOG_SWITCH, a
// timeline switch) onto a CrashFileOps; the power fails at every file operation of the
// run in turn, sometimes tearing the writeback in flight. From what was durable,
// RecoverWal must find an end of WAL that
//   (a) covers every flush position the writer ever reported,
//   (b) is preceded, from the first segment on, by exactly the primary's bytes, and
//   (c) is the end of one of the primary's records (or the start),
// and a writer restarted there must complete the stream into an archive that recovers
// to the primary's end. DATA_DIR.md ("The durable position") has the argument tested.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "replay/crash_file_ops.h"
#include "replay/segment.h"
#include "replay/test_util.h"
#include "replay/wal_recovery.h"
#include "replay/wal_test_builder.h"
#include "replay/wal_writer.h"
#include "spdlog/spdlog.h"

namespace walrep {
namespace {

using walrep::testing::TempDir;

constexpr uint64_t kSeg = kMinSegmentSize;
// The writer creates the WAL directory in a directory that exists durably.
constexpr char kParentDir[] = "/pg";
constexpr char kModelDir[] = "/pg/wal";
constexpr char kRealSubdir[] = "pg/wal";
// Bytes streamed past the switch point before the switch: the start of the next record,
// which timeline 1 never completed.
constexpr uint64_t kPastSwitch = 100;

// The primary's WAL: timeline 1 up to `switch_lsn`, timeline 2 after it (its pages say
// so from the first page header past the switch point).
struct Primary {
  std::string bytes;  // bytes[i] is the WAL byte at start + i
  Lsn start;
  Lsn end;
  std::vector<Lsn> ends;  // every record end, ascending
  Lsn switch_lsn;
  std::string history;  // 00000002.history

  std::string Bytes(Lsn from, uint64_t n) const {
    return bytes.substr(from.value() - start.value(), n);
  }
  bool IsRecordEnd(Lsn lsn) const {
    return lsn == start || std::binary_search(ends.begin(), ends.end(), lsn);
  }
};

const Primary& ThePrimary() {
  static const Primary* primary = [] {
    auto* p = new Primary;
    WalTestBuilder b({.segment_size = kSeg, .start = kSeg});
    uint32_t xid = 700;
    auto add = [&](size_t n) {
      b.Add(10, 0, xid, std::string(n, static_cast<char>('a' + xid % 26)));
      ++xid;
      p->ends.push_back(b.end());
    };
    // Small records, records spanning one and several pages.
    static constexpr size_t kSizes[] = {40, 300, 3000, 9000, 100, 20000, 7, 5000, 900};
    size_t k = 0;
    auto fill_to = [&](uint64_t lsn) {
      while (b.end().value() < lsn) add(kSizes[k++ % std::size(kSizes)]);
    };
    fill_to(2 * kSeg - 30000);
    add(60000);  // crosses into segment 2
    fill_to(2 * kSeg + 400000);
    p->switch_lsn = b.end();
    b.set_tli(2);
    add(6000);  // the first record of timeline 2; timeline 1 holds only its start
    fill_to(3 * kSeg - 100000);
    add(1300000);  // covers segment 3 entirely and ends in segment 4
    fill_to(4 * kSeg + 500000);
    b.AddSwitch();  // the rest of segment 4 is empty pages
    p->ends.push_back(b.end());
    fill_to(5 * kSeg + 200000);
    p->start = b.start();
    p->end = b.end();
    // Up to the last record's MAXALIGNed end, as a walsender sends it.
    p->bytes = b.bytes();
    p->bytes.resize(p->end - p->start, '\0');
    p->history = absl::StrCat("1\t", p->switch_lsn.ToString(), "\tno recovery target specified\n");
    return p;
  }();
  return *primary;
}

// One call into the writer.
struct Step {
  enum Kind { kAppend, kFlush, kHistory, kSwitch, kClose } kind;
  Lsn from;
  uint64_t len = 0;
};

// A deterministic mix of chunk sizes: a few bytes, parts of a page, several pages, and
// chunks that cross one or two segment seals; roughly every other chunk is flushed.
class ChunkPlanner {
 public:
  explicit ChunkPlanner(uint64_t seed) : state_(seed) {}

  void StreamTo(Lsn* pos, Lsn to, std::vector<Step>* steps) {
    while (*pos < to) {
      const uint64_t n = std::min<uint64_t>(NextSize(), to - *pos);
      steps->push_back({Step::kAppend, *pos, n});
      *pos = *pos + n;
      if (Next() % 2 == 0) steps->push_back({Step::kFlush});
    }
  }

 private:
  uint64_t Next() {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return state_ >> 33;
  }
  uint64_t NextSize() {
    const uint64_t kind = Next() % 32;
    if (kind < 6) return 1 + Next() % 64;
    if (kind < 16) return 64 + Next() % 8192;
    if (kind < 26) return 8192 + Next() % 32768;
    if (kind < 31) return 40960 + Next() % 131072;
    return 200000 + Next() % 700000;
  }

  uint64_t state_;
};

// The writer's calls for streaming the primary's WAL from `pos` (on timeline `tli`) to
// its end, switching timelines on the way when still on timeline 1.
std::vector<Step> Plan(Lsn pos, TimelineId tli, uint64_t seed) {
  const Primary& p = ThePrimary();
  ChunkPlanner planner(seed);
  std::vector<Step> steps;
  if (tli == 1) {
    planner.StreamTo(&pos, p.switch_lsn + kPastSwitch, &steps);
    steps.push_back({Step::kFlush});
    steps.push_back({Step::kHistory});
    steps.push_back({Step::kSwitch});
    pos = p.switch_lsn;
  }
  planner.StreamTo(&pos, p.end, &steps);
  steps.push_back({Step::kFlush});
  steps.push_back({Step::kClose});
  return steps;
}

// Runs `steps` until one fails; returns the first error.
absl::Status Drive(WalWriter& w, const std::vector<Step>& steps) {
  const Primary& p = ThePrimary();
  for (const Step& s : steps) {
    absl::Status st;
    switch (s.kind) {
      case Step::kAppend:
        st = w.Append(s.from, p.Bytes(s.from, s.len));
        break;
      case Step::kFlush:
        st = w.Flush();
        break;
      case Step::kHistory:
        st = w.WriteHistoryFile(2, p.history);
        break;
      case Step::kSwitch:
        st = w.SwitchTimeline(2, p.switch_lsn);
        break;
      case Step::kClose:
        st = w.Close();
        break;
    }
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WalWriter>> MakeWriter(FileOps* ops, Lsn* acked) {
  WalWriter::Options o;
  o.dir = kModelDir;
  o.segment_size = kSeg;
  o.layout = WalWriter::Layout::kArchive;
  o.file_ops = ops;
  // flush_lsn may be read by any thread at any moment (status updates, GetProgress), so
  // every value it ever takes counts as told to the primary.
  o.on_flush = [acked](Lsn l) { *acked = std::max(*acked, l); };
  return WalWriter::Create(std::move(o));
}

// The primary's streaming run from scratch on `ops`; `*acked` becomes the highest flush
// position the writer made visible.
absl::Status FirstRun(CrashFileOps* ops, Lsn* acked) {
  const Primary& p = ThePrimary();
  absl::StatusOr<std::unique_ptr<WalWriter>> w = MakeWriter(ops, acked);
  if (!w.ok()) return w.status();
  absl::Status st = (*w)->StartAtSegment(1, p.start);
  if (st.ok()) st = Drive(**w, Plan(p.start, 1, /*seed=*/42));
  *acked = std::max(*acked, (*w)->flush_lsn());
  return st;
}

// The file a reader must use for `segno` under the timeline rule: timeline 2's from the
// switch segment on when it exists, else timeline 1's; final name before ".partial".
std::optional<std::string> SegmentFor(const std::string& dir, uint64_t segno) {
  const Primary& p = ThePrimary();
  std::vector<TimelineId> tlis;
  if (segno >= SegmentNumber(p.switch_lsn, kSeg)) tlis.push_back(2);
  tlis.push_back(1);
  for (TimelineId tli : tlis) {
    for (const std::string& name :
         {SegmentFileName(tli, segno, kSeg), PartialSegmentFileName(tli, segno, kSeg)}) {
      const std::string path = JoinPath(dir, name);
      if (testing::SizeOf(path) == static_cast<int64_t>(kSeg)) return path;
    }
  }
  return std::nullopt;
}

// Checks (a)-(c) on the WAL directory `dir` (real files); "" when they hold.
std::string CheckRecovered(const std::string& dir, Lsn acked, RecoveredWal* out) {
  const Primary& p = ThePrimary();
  absl::StatusOr<std::optional<RecoveredWal>> rec = RecoverWal(dir, kSeg, 0, DefaultFileOps());
  if (!rec.ok()) return absl::StrCat("RecoverWal failed: ", rec.status().ToString());
  RecoveredWal r;
  if (rec->has_value()) {
    r = **rec;
  } else {
    r.end = p.start;  // nothing durable: streaming starts again at the beginning
  }
  *out = r;
  const std::string where =
      absl::StrCat("recovered end ", r.end.ToString(), " on timeline ", r.tli, " (", r.records,
                   " records from ", r.scan_start.ToString(), ", ", r.end_message, ")");
  if (r.end < acked) {
    return absl::StrCat("(a) ", where, " is below the reported flush position ", acked.ToString());
  }
  if (!p.IsRecordEnd(r.end)) return absl::StrCat("(c) ", where, " is not a record end");
  if (r.corruption) {
    return absl::StrCat(where, ": a complete segment is corrupt at ", r.corruption->at.ToString(),
                        ": ", r.corruption->message);
  }
  if (r.end > p.switch_lsn && r.tli != 2) {
    return absl::StrCat(where, " lies past the switch point ", p.switch_lsn.ToString(),
                        " but not on timeline 2");
  }
  for (uint64_t seg = SegmentNumber(p.start, kSeg); SegmentStartLsn(seg, kSeg) < r.end; ++seg) {
    const Lsn from = SegmentStartLsn(seg, kSeg);
    const uint64_t n = std::min<uint64_t>(kSeg, r.end - from);
    std::optional<std::string> path = SegmentFor(dir, seg);
    if (!path) return absl::StrCat("(b) ", where, ": no file for segment ", seg);
    const std::string got = testing::ReadAll(*path).substr(0, n);
    const std::string want = p.Bytes(from, n);
    if (got != want) {
      size_t i = 0;
      while (got[i] == want[i]) ++i;
      return absl::StrCat("(b) ", where, ": ", *path, " differs from the primary's WAL at ",
                          (from + i).ToString());
    }
  }
  return "";
}

// A writer restarted on the rebooted file system at the recovered position (as the
// agent does) streams the rest; the archive must then recover to the primary's end.
std::string CheckRestart(CrashFileOps* ops, const RecoveredWal& r) {
  const Primary& p = ThePrimary();
  ops->Reboot();
  Lsn acked;
  absl::StatusOr<std::unique_ptr<WalWriter>> w = MakeWriter(ops, &acked);
  if (!w.ok()) return absl::StrCat("restart: ", w.status().ToString());
  const TimelineId tli = r.tli == 0 ? 1 : r.tli;
  absl::Status st = (!r.last_record.valid() && IsSegmentBoundary(r.end, kSeg))
                        ? (*w)->StartAtSegment(tli, r.end)
                        : (*w)->StartAtRecord(tli, r.end, r.last_record);
  if (st.ok()) st = Drive(**w, Plan(r.end, tli, /*seed=*/r.end.value()));
  if (!st.ok()) return absl::StrCat("restart at ", r.end.ToString(), ": ", st.ToString());
  TempDir again;
  st = ops->Materialize(again.path());
  if (!st.ok()) return st.ToString();
  RecoveredWal done;
  std::string bad = CheckRecovered(again.Join(kRealSubdir), p.end, &done);
  if (!bad.empty()) return absl::StrCat("after the restart: ", bad);
  if (done.end != p.end) {
    return absl::StrCat("after the restart recovery ends at ", done.end.ToString(),
                        ", not at the primary's end ", p.end.ToString());
  }
  return "";
}

// The run with the power failing at operation `cut` (0: never) and `torn` sectors of the
// writeback in flight surviving; with `restart`, the restart check too. "" when every
// check held, else what failed, where.
std::string RunWithCut(uint64_t cut, uint64_t torn, bool restart) {
  CrashFileOps ops;
  ops.MakeDurableDir(kParentDir);
  ops.set_cut(cut, torn);
  Lsn acked;
  absl::Status st = FirstRun(&ops, &acked);
  if (cut == 0 && !st.ok()) return absl::StrCat("the run without a cut failed: ", st.ToString());
  if (cut != 0 && !st.ok() && !ops.powered_off()) {
    return absl::StrCat("failed before the cut: ", st.ToString());
  }
  TempDir tmp;
  st = ops.Materialize(tmp.path());
  if (!st.ok()) return st.ToString();
  RecoveredWal r;
  std::string bad = CheckRecovered(tmp.Join(kRealSubdir), acked, &r);
  if (bad.empty() && restart) bad = CheckRestart(&ops, r);
  if (bad.empty()) return "";
  return absl::StrCat("cut at op ", cut, " (", ops.OpName(cut), "), torn sectors ", torn,
                      ", reported flush ", acked.ToString(), ": ", bad);
}

uint64_t OpsOfAFullRun() {
  CrashFileOps ops;
  ops.MakeDurableDir(kParentDir);
  Lsn acked;
  EXPECT_TRUE(FirstRun(&ops, &acked).ok());
  EXPECT_EQ(acked, ThePrimary().end);
  return ops.ops();
}

class PowerLossTest : public ::testing::Test {
 protected:
  // Every cut makes the writer log its failure; the checks say everything needed.
  void SetUp() override { spdlog::set_level(spdlog::level::off); }
};

TEST_F(PowerLossTest, WithoutACutEverythingIsRecovered) {
  EXPECT_EQ(RunWithCut(0, 0, /*restart=*/false), "");
}

TEST_F(PowerLossTest, EveryCutPointRecoversEverythingReported) {
  const uint64_t total = OpsOfAFullRun();
  ASSERT_GT(total, 200u);
  RecordProperty("cut_points", static_cast<int>(total + 1));
  // Torn writeback: one sector, a few, a page's worth, or everything dirty.
  static constexpr uint64_t kTorn[] = {1, 3, 16, 1u << 30};
  int failures = 0;
  // total + 1: the power fails after the run, with everything closed.
  for (uint64_t cut = 1; cut <= total + 1 && failures < 10; ++cut) {
    const std::pair<uint64_t, bool> variants[] = {
        {0, true}, {kTorn[cut % 4], true}, {kTorn[(cut + 2) % 4], false}};
    for (const auto& [torn, restart] : variants) {
      std::string bad = RunWithCut(cut, torn, restart);
      if (!bad.empty()) {
        ADD_FAILURE() << bad;
        ++failures;
      }
    }
  }
}

}  // namespace
}  // namespace walrep
