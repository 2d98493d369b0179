#include "tests/replay_e2e_util.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/e2e_util.h"

namespace walrep::testing {

std::string PgBin(const std::string& tool) { return absl::StrCat(PgPrimary::kBinDir, "/", tool); }

// Streams from `pg` as application_name=walrep (the name synchronous_standby_names uses).
grpc::Status StartReplicaOf(AgentProcess& agent, const PgPrimary& pg, const std::string& slot) {
  return StartReplica(agent, pg.ReplConnInfo(absl::StrCat("application_name=", kAppName)), slot);
}

// pgbench as `postgres` over the Unix socket, killed after `limit` so that a commit that
// never completes fails the test instead of hanging it. Returns stdout and stderr.
std::string RunPgbench(const PgPrimary& pg, const std::string& args,
                       const std::string& pgoptions, absl::Duration limit) {
  std::string env =
      pgoptions.empty() ? "" : absl::StrCat("env PGOPTIONS=", ShellQuote(pgoptions), " ");
  auto out = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", env, "timeout ",
                                   absl::ToInt64Seconds(limit), " ", PgBin("pgbench"), " -h ",
                                   ShellQuote(pg.socket_dir()), " -p ", pg.port(), " ", args,
                                   " postgres 2>&1"));
  return out.ok() ? *out : std::string(out.status().message());
}

// pgbench's "number of transactions actually processed", -1 when absent.
long ProcessedTransactions(const std::string& pgbench_output) {
  const std::string kKey = "number of transactions actually processed: ";
  size_t at = pgbench_output.find(kKey);
  if (at == std::string::npos) return -1;
  long n = -1;
  std::string digits;
  for (size_t i = at + kKey.size(); i < pgbench_output.size() && isdigit(pgbench_output[i]); ++i) {
    digits += pgbench_output[i];
  }
  if (!absl::SimpleAtoi(digits, &n)) return -1;
  return n;
}

std::optional<Lsn> ParseLsnText(const absl::StatusOr<std::string>& text) {
  if (!text.ok() || text->empty()) return std::nullopt;
  auto lsn = Lsn::Parse(*text);
  if (!lsn.ok()) return std::nullopt;
  return *lsn;
}

// The flush position walrep last reported to the primary (pg_stat_replication), while its
// walsender streams; nullopt when walrep is not connected.
std::optional<Lsn> FlushReportedToPrimary(const PgPrimary& pg) {
  return ParseLsnText(pg.Psql(
      absl::StrCat("SELECT flush_lsn FROM pg_stat_replication WHERE application_name = '", kAppName,
                   "' AND state = 'streaming' ORDER BY backend_start DESC LIMIT 1")));
}

// walrep as the only synchronous standby, commits waiting at `level` (on, remote_apply).
absl::Status MakeWalrepTheSynchronousStandby(const PgPrimary& pg, const std::string& level) {
  for (const std::string& sql :
       {absl::StrCat("ALTER SYSTEM SET synchronous_standby_names = '", kAppName, "'"),
        absl::StrCat("ALTER SYSTEM SET synchronous_commit = ", level),
        std::string("SELECT pg_reload_conf()")}) {
    auto out = pg.Psql(sql);
    if (!out.ok()) return out.status();
  }
  return absl::OkStatus();
}

bool WalrepIsSyncStandby(const PgPrimary& pg) {
  auto s =
      pg.Psql(absl::StrCat("SELECT count(*) FROM pg_stat_replication WHERE application_name = '",
                           kAppName, "' AND state = 'streaming' AND sync_state = 'sync'"));
  return s.ok() && *s != "0";
}

absl::Status StopPrimaryImmediately(const PgPrimary& pg) {
  return RunShell(absl::StrCat("runuser -u postgres -- ", PgBin("pg_ctl"),
                               " stop -w -m immediate -D ", ShellQuote(pg.data_dir()),
                               " >/dev/null"))
      .status();
}

std::string SegmentFileName(uint32_t tli, uint64_t segno) {
  const uint64_t per_log = 0x100000000ull / kSegmentSize;
  return absl::StrFormat("%08X%08X%08X", tli, segno / per_log, segno % per_log);
}

// Segment files (final and .partial) in a WAL archive directory, by timeline and segment.
std::vector<ArchiveFile> ListSegments(const std::string& dir) {
  std::vector<ArchiveFile> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    bool partial = absl::EndsWith(name, ".partial");
    if (name.size() != (partial ? 32u : 24u)) continue;
    uint32_t tli = 0, log = 0, seg = 0;
    if (!absl::SimpleHexAtoi(name.substr(0, 8), &tli) ||
        !absl::SimpleHexAtoi(name.substr(8, 8), &log) ||
        !absl::SimpleHexAtoi(name.substr(16, 8), &seg)) {
      continue;
    }
    files.push_back({name, tli, uint64_t{log} * (0x100000000ull / kSegmentSize) + seg, partial});
  }
  closedir(d);
  std::sort(files.begin(), files.end(), [](const ArchiveFile& a, const ArchiveFile& b) {
    return std::tie(a.tli, a.segno, a.partial) < std::tie(b.tli, b.segno, b.partial);
  });
  return files;
}

std::vector<WaldumpRecord> ParseWaldumpRecords(const std::string& out) {
  std::vector<WaldumpRecord> records;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (!absl::StartsWith(line, "rmgr: ")) continue;
    // rmgr: Heap  len (rec/tot):  59/  59, tx:  735, lsn: 0/0300A028, prev 0/0300A000, desc: ..
    size_t len_at = line.find("len (rec/tot):");
    size_t lsn_at = line.find("lsn: ");
    if (len_at == absl::string_view::npos || lsn_at == absl::string_view::npos) continue;
    absl::string_view lens = line.substr(len_at + 14);
    lens = lens.substr(0, lens.find(','));
    std::vector<absl::string_view> parts = absl::StrSplit(lens, '/');
    absl::string_view lsn_text = line.substr(lsn_at + 5);
    lsn_text = lsn_text.substr(0, lsn_text.find(','));
    WaldumpRecord r;
    auto lsn = Lsn::Parse(absl::StripAsciiWhitespace(lsn_text));
    if (parts.size() != 2 || !lsn.ok() ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[1]), &r.tot_len)) {
      continue;
    }
    r.lsn = *lsn;
    r.line = std::string(line);
    records.push_back(std::move(r));
  }
  return records;
}

// Where a record of `tot_len` bytes starting at `lsn` ends, MAXALIGNed: its bytes skip the
// page headers of the pages it continues onto (the long one at a segment start).
Lsn RecordEnd(Lsn lsn, uint32_t tot_len) {
  uint64_t pos = lsn.value();
  uint64_t left = tot_len;
  while (left > 0) {
    if (pos % kPageSize == 0) pos += pos % kSegmentSize == 0 ? 40 : 24;
    uint64_t n = std::min<uint64_t>(left, kPageSize - pos % kPageSize);
    pos += n;
    left -= n;
  }
  return Lsn((pos + 7) & ~uint64_t{7});
}

absl::Status FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  if (!f) return absl::OutOfRangeError(absl::StrCat(path, " has no byte ", offset));
  c = static_cast<char>(c ^ 0x5A);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  f.flush();
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace walrep::testing
