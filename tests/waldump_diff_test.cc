// walrep's WAL decoder checked against PostgreSQL's own reader: a real PostgreSQL 15
// primary writes WAL of many kinds (pgbench, a transaction larger than a segment, a
// segment switch, full-page images after a checkpoint, hint-bit images, VACUUM, CREATE and
// DROP DATABASE, two-phase commit, a restore point, several index types), then
// pg_waldump and walrep_waldump read a copy of the same segment files over the same
// range. Every record must come out the same (resource manager, record and total length,
// transaction, LSN, prev-link, record type), and so must the --stats tables.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "replay/segment.h"
#include "tests/pg_fixture.h"
#include "wire/lsn.h"

namespace walrep::testing {
namespace {

constexpr uint64_t kSegmentSize = uint64_t{16} << 20;

std::string WaldumpBinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir && ws) return absl::StrCat(srcdir, "/", ws, "/tools/waldump/walrep_waldump");
  return "tools/waldump/walrep_waldump";
}

std::string PgWaldumpPath() { return absl::StrCat(PgPrimary::kBinDir, "/pg_waldump"); }

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The fields of one record line both tools print.
struct RecordLine {
  std::string rmgr;
  uint32_t rec_len = 0;
  uint32_t tot_len = 0;
  uint32_t xid = 0;
  uint64_t lsn = 0;
  uint64_t prev = 0;
  std::string type;  // the first word after "desc: "
  std::string text;  // the whole line, for messages

  bool operator==(const RecordLine& o) const {
    return rmgr == o.rmgr && rec_len == o.rec_len && tot_len == o.tot_len && xid == o.xid &&
           lsn == o.lsn && prev == o.prev && type == o.type;
  }
};

// Parses every "rmgr: ..." line; anything else (there should be nothing) is a failure.
std::vector<RecordLine> ParseRecordLines(const std::string& output, const char* who) {
  std::vector<RecordLine> out;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    const std::string s(line);
    char rmgr[32], type[64];
    unsigned lsn_hi, lsn_lo, prev_hi, prev_lo;
    RecordLine r;
    const int n = std::sscanf(s.c_str(),
                              "rmgr: %31s len (rec/tot): %u/%u, tx: %u, lsn: %X/%X, prev %X/%X, "
                              "desc: %63s",
                              rmgr, &r.rec_len, &r.tot_len, &r.xid, &lsn_hi, &lsn_lo, &prev_hi,
                              &prev_lo, type);
    if (n != 9) {
      ADD_FAILURE() << who << ": unparsable line: " << s;
      continue;
    }
    r.rmgr = rmgr;
    r.type = type;
    r.lsn = uint64_t{lsn_hi} << 32 | lsn_lo;
    r.prev = uint64_t{prev_hi} << 32 | prev_lo;
    r.text = s;
    out.push_back(std::move(r));
  }
  return out;
}

struct StatsRow {
  uint64_t n = 0, rec = 0, fpi = 0, combined = 0;
};

// The per-rmgr rows and "Total" of a --stats table, by name.
std::map<std::string, StatsRow> ParseStats(const std::string& output) {
  std::map<std::string, StatsRow> rows;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    const std::string s(line);
    char name[64];
    StatsRow r;
    unsigned long long n, rec, fpi, combined;
    double p;
    if (std::sscanf(s.c_str(), "%63s %llu (%lf) %llu (%lf) %llu (%lf) %llu", name, &n, &p, &rec, &p,
                    &fpi, &p, &combined) == 8 ||
        std::sscanf(s.c_str(), "Total %llu %llu [%lf%%] %llu [%lf%%] %llu", &n, &rec, &p, &fpi, &p,
                    &combined) == 6) {
      r = StatsRow{n, rec, fpi, combined};
      rows[absl::StartsWith(s, "Total") ? "Total" : name] = r;
    }
  }
  return rows;
}

class WaldumpDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PgPrimaryOptions options;
    options.extra_conf = {
        // Nothing recycled or removed while the test runs, and no checkpoint but ours.
        "wal_keep_size = '4GB'",
        "max_wal_size = '4GB'",
        "checkpoint_timeout = '1h'",
        "max_prepared_transactions = 5",
    };
    auto pg = PgPrimary::Start(options);
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    auto dir = RunShell("mktemp -d /tmp/walrep-waldump.XXXXXX");
    ASSERT_TRUE(dir.ok()) << dir.status();
    work_dir_ = std::string(absl::StripTrailingAsciiWhitespace(*dir));
    copy_dir_ = work_dir_ + "/pg_wal";
    ASSERT_TRUE(RunShell(absl::StrCat("mkdir ", ShellQuote(copy_dir_))).ok());
  }

  void TearDown() override {
    if (!work_dir_.empty()) (void)RunShell(absl::StrCat("rm -rf ", ShellQuote(work_dir_)));
  }

  struct Output {
    absl::Status status;  // on failure: the exit code and stderr
    std::string out;      // what was printed, also when the command failed
  };
  // Runs `command` with its standard output in a file (a dump is tens of megabytes).
  Output Dump(const std::string& command, const std::string& name) {
    const std::string path = absl::StrCat(work_dir_, "/", name);
    Output o;
    o.status = RunShell(absl::StrCat(command, " > ", ShellQuote(path))).status();
    auto text = ReadFile(path);
    if (text.ok()) o.out = std::move(*text);
    return o;
  }

  void Sql(const std::string& sql, const std::string& db = "postgres") {
    auto out = pg_->Psql(sql, db);
    ASSERT_TRUE(out.ok()) << out.status();
  }

  Lsn InsertLsn() {
    auto out = pg_->Psql("SELECT pg_current_wal_insert_lsn()");
    EXPECT_TRUE(out.ok()) << out.status();
    auto lsn = Lsn::Parse(out.ok() ? *out : "");
    EXPECT_TRUE(lsn.ok()) << lsn.status();
    return lsn.ok() ? *lsn : Lsn();
  }

  void Pgbench(const std::string& args) {
    auto out = pg_->RunTool("pgbench", absl::StrCat("-h ", ShellQuote(pg_->socket_dir()), " -p ",
                                                    pg_->port(), " ", args, " postgres"));
    ASSERT_TRUE(out.ok()) << out.status();
  }

  std::unique_ptr<PgPrimary> pg_;
  std::string work_dir_;
  std::string copy_dir_;  // the copy of pg_wal both tools read
};

TEST_F(WaldumpDiffTest, SameRecordsAndStatsAsPgWaldump) {
  // pgbench's tables, then a short run of its transactions.
  Pgbench("-i -s 2 -q");
  Pgbench("-c 2 -t 300 -n");

  // One transaction whose WAL is larger than a segment (records cannot be: they are
  // split into many, and this transaction's span several segments).
  Sql("CREATE TABLE wide (id int, pad text)");
  const Lsn wide_from = InsertLsn();
  auto wide = pg_->Psql(
      "WITH ins AS (INSERT INTO wide SELECT g, repeat(md5(g::text), 32) "
      "FROM generate_series(1, 24000) g RETURNING 1) SELECT txid_current() FROM ins LIMIT 1");
  ASSERT_TRUE(wide.ok()) << wide.status();
  const uint32_t wide_xid = static_cast<uint32_t>(std::stoul(*wide));
  const Lsn wide_to = InsertLsn();
  ASSERT_GT(wide_to - wide_from, kSegmentSize);

  Sql("SELECT pg_switch_wal()");

  // Full-page images: the first change to each page after a checkpoint, and (with data
  // checksums) hint bits set by a read.
  Sql("CHECKPOINT");
  Sql("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 50 = 0");
  Sql("SELECT count(*) FROM wide");
  Sql("VACUUM pgbench_accounts");
  Sql("VACUUM FREEZE pgbench_tellers");

  // More resource managers: sequences, index access methods, two-phase commit, an
  // aborted transaction, a logical message.
  Sql("CREATE SEQUENCE seq; SELECT nextval('seq') FROM generate_series(1, 40)");
  Sql("CREATE TABLE kinds (a int, arr int[], p point, r int4range, t text)");
  Sql("CREATE INDEX ON kinds USING gin (arr)");
  Sql("CREATE INDEX ON kinds USING gist (p)");
  Sql("CREATE INDEX ON kinds USING brin (a)");
  Sql("CREATE INDEX ON kinds USING hash (a)");
  Sql("CREATE INDEX ON kinds USING spgist (t)");
  Sql("INSERT INTO kinds SELECT g, ARRAY[g, g + 1], point(g, g), int4range(g, g + 5), md5(g::text) "
      "FROM generate_series(1, 3000) g");
  Sql("DELETE FROM kinds WHERE a % 3 = 0");
  Sql("VACUUM kinds");
  Sql("BEGIN; INSERT INTO kinds VALUES (0); PREPARE TRANSACTION 'walrep_2pc'");
  Sql("COMMIT PREPARED 'walrep_2pc'");
  Sql("BEGIN; INSERT INTO kinds VALUES (-1); ROLLBACK");
  Sql("SELECT pg_logical_emit_message(true, 'walrep', 'checked by waldump_diff_test')");

  Sql("CREATE DATABASE walrep_copy");
  Sql("DROP DATABASE walrep_copy");
  Sql("SELECT pg_create_restore_point('walrep_waldump')");
  Sql("CHECKPOINT");
  Sql("INSERT INTO kinds VALUES (1)");
  const Lsn end = InsertLsn();

  // A clean stop: everything below `end` is on disk and no longer changes.
  ASSERT_TRUE(pg_->Stop().ok());
  auto first = RunShell(absl::StrCat("ls ", ShellQuote(pg_->data_dir() + "/pg_wal"),
                                     " | grep -E '^[0-9A-F]{24}$' | sort | head -1"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto first_name = ParseWalFileName(absl::StripTrailingAsciiWhitespace(*first), kSegmentSize);
  ASSERT_TRUE(first_name.ok()) << first_name.status() << " in " << *first;
  const uint64_t last_segno = SegmentNumber(end, kSegmentSize);
  for (uint64_t segno = first_name->segno; segno <= last_segno; ++segno) {
    const std::string name = SegmentFileName(1, segno, kSegmentSize);
    ASSERT_TRUE(RunShell(absl::StrCat("cp ", ShellQuote(pg_->data_dir() + "/pg_wal/" + name), " ",
                                      ShellQuote(copy_dir_)))
                    .ok())
        << name;
  }
  const Lsn start = SegmentStartLsn(first_name->segno, kSegmentSize);
  ASSERT_GT(end - start, kSegmentSize);  // the range spans several segments

  const std::string range = absl::StrCat(start.ToString(), " ", end.ToString());
  auto theirs = Dump(absl::StrCat(PgWaldumpPath(), " -p ", ShellQuote(copy_dir_), " -s ",
                                  start.ToString(), " -e ", end.ToString()),
                     "pg_waldump.txt");
  ASSERT_TRUE(theirs.status.ok()) << theirs.status;
  auto ours = Dump(absl::StrCat(ShellQuote(WaldumpBinaryPath()), " --start=", start.ToString(),
                                " --end=", end.ToString(), " ", ShellQuote(copy_dir_)),
                   "walrep_waldump.txt");
  // Compared even if it failed: the records it did print show where it went wrong.
  EXPECT_TRUE(ours.status.ok()) << ours.status;

  const std::vector<RecordLine> want = ParseRecordLines(theirs.out, "pg_waldump");
  const std::vector<RecordLine> got = ParseRecordLines(ours.out, "walrep_waldump");
  EXPECT_EQ(got.size(), want.size()) << "records between " << range;
  std::printf("%zu records between %s (%llu bytes of WAL)\n", want.size(), range.c_str(),
              static_cast<unsigned long long>(end - start));
  int reported = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()) && reported < 10; ++i) {
    if (!(got[i] == want[i])) {
      ADD_FAILURE() << "record " << i << " differs\n  pg_waldump:     " << want[i].text
                    << "\n  walrep_waldump: " << got[i].text;
      ++reported;
    }
  }
  if (got.size() != want.size()) {
    const size_t common = std::min(got.size(), want.size());
    if (common < want.size()) ADD_FAILURE() << "first record missing: " << want[common].text;
    if (common < got.size()) ADD_FAILURE() << "first extra record: " << got[common].text;
  }

  // Every scenario is in the range.
  auto has = [&](const std::string& rmgr, const std::string& type) {
    for (const RecordLine& r : want) {
      if (r.rmgr == rmgr && r.type == type) return true;
    }
    return false;
  };
  for (const auto& [rmgr, type] : std::vector<std::pair<std::string, std::string>>{
           {"XLOG", "SWITCH"},
           {"XLOG", "CHECKPOINT_ONLINE"},
           {"XLOG", "FPI_FOR_HINT"},
           {"XLOG", "RESTORE_POINT"},
           {"Transaction", "COMMIT"},
           {"Transaction", "PREPARE"},
           {"Transaction", "COMMIT_PREPARED"},
           {"Transaction", "ABORT"},
           {"Database", "CREATE_WAL_LOG"},
           {"Database", "DROP"},
           {"Heap", "INSERT+INIT"},
           {"Heap", "HOT_UPDATE"},
           {"Heap2", "PRUNE"},
           {"Heap2", "FREEZE_PAGE"},
           {"Standby", "RUNNING_XACTS"},
           {"Sequence", "LOG"},
           {"LogicalMessage", "MESSAGE"},
       }) {
    EXPECT_TRUE(has(rmgr, type)) << rmgr << "/" << type << " not in " << range;
  }
  uint64_t wide_first = 0, wide_last = 0;
  for (const RecordLine& r : want) {
    if (r.xid != wide_xid) continue;
    if (wide_first == 0) wide_first = r.lsn;
    wide_last = r.lsn;
  }
  EXPECT_GT(wide_last - wide_first, kSegmentSize) << "transaction " << wide_xid;

  // The statistics: the same table to the byte, per resource manager and per record type.
  for (const char* mode : {"--stats", "--stats=record"}) {
    auto their_stats = Dump(absl::StrCat(PgWaldumpPath(), " -p ", ShellQuote(copy_dir_), " -s ",
                                         start.ToString(), " -e ", end.ToString(), " ", mode),
                            "pg_waldump_stats.txt");
    ASSERT_TRUE(their_stats.status.ok()) << their_stats.status;
    auto our_stats =
        Dump(absl::StrCat(ShellQuote(WaldumpBinaryPath()), " --start=", start.ToString(),
                          " --end=", end.ToString(), " ", mode, " ", ShellQuote(copy_dir_)),
             "walrep_waldump_stats.txt");
    EXPECT_TRUE(our_stats.status.ok()) << our_stats.status;
    EXPECT_EQ(our_stats.out, their_stats.out) << mode;
    if (std::string(mode) != "--stats") continue;
    std::map<std::string, StatsRow> rows = ParseStats(their_stats.out);
    const std::map<std::string, StatsRow> our_rows = ParseStats(our_stats.out);
    EXPECT_EQ(rows.size(), our_rows.size());
    EXPECT_EQ(rows["Total"].n, want.size());
    EXPECT_GT(rows["XLOG"].fpi, 0u);
    EXPECT_GT(rows["Heap"].fpi, 0u);
    EXPECT_GT(rows["Btree"].fpi, 0u);
    EXPECT_GT(rows["Database"].n, 0u);
    for (const char* rmgr : {"Gin", "Gist", "BRIN", "Hash", "SPGist", "Storage"}) {
      EXPECT_GT(rows[rmgr].n, 0u) << rmgr;
    }
  }
}

}  // namespace
}  // namespace walrep::testing
