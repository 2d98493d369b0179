// Helpers of the replay end-to-end tests (replay_e2e_test.cc, replay_kill_e2e_test.cc): the
// agent streaming from a real primary, pgbench, the primary's view of walrep, the WAL
// archive's files and pg_waldump's records.
#ifndef WALREP_TESTS_REPLAY_E2E_UTIL_H_
#define WALREP_TESTS_REPLAY_E2E_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tests/agent_process.h"
#include "tests/pg_fixture.h"
#include "wire/lsn.h"

namespace walrep::testing {

inline constexpr uint64_t kSegmentSize = uint64_t{16} << 20;
inline constexpr uint64_t kPageSize = 8192;
inline constexpr const char* kAppName = "walrep";

// The path of a PostgreSQL 15 program.
std::string PgBin(const std::string& tool);

// Streams from `pg` as application_name=walrep (the name synchronous_standby_names uses).
grpc::Status StartReplicaOf(AgentProcess& agent, const PgPrimary& pg, const std::string& slot);

// pgbench as `postgres` over the Unix socket, killed after `limit` so that a commit that
// never completes fails the test instead of hanging it. Returns stdout and stderr.
std::string RunPgbench(const PgPrimary& pg, const std::string& args,
                       const std::string& pgoptions = "",
                       absl::Duration limit = absl::Seconds(90));

// pgbench's "number of transactions actually processed", -1 when absent.
long ProcessedTransactions(const std::string& pgbench_output);

// "X/X" -> the LSN; nullopt for an error, an empty or unparsable text.
std::optional<Lsn> ParseLsnText(const absl::StatusOr<std::string>& text);

// The flush position walrep last reported to the primary (pg_stat_replication), while its
// walsender streams; nullopt when walrep is not connected.
std::optional<Lsn> FlushReportedToPrimary(const PgPrimary& pg);

// walrep as the only synchronous standby, commits waiting at `level` (on, remote_apply).
absl::Status MakeWalrepTheSynchronousStandby(const PgPrimary& pg, const std::string& level);

// Whether walrep streams and is pg_stat_replication's synchronous standby.
bool WalrepIsSyncStandby(const PgPrimary& pg);

// pg_ctl stop -m immediate: the primary dies as in a crash.
absl::Status StopPrimaryImmediately(const PgPrimary& pg);

// The file name of segment `segno` on timeline `tli` (16 MiB segments).
std::string SegmentFileName(uint32_t tli, uint64_t segno);

struct ArchiveFile {
  std::string name;
  uint32_t tli = 0;
  uint64_t segno = 0;
  bool partial = false;
};

// Segment files (final and .partial) in a WAL archive directory, by timeline and segment.
std::vector<ArchiveFile> ListSegments(const std::string& dir);

// One record line of pg_waldump's output.
struct WaldumpRecord {
  Lsn lsn;
  uint32_t tot_len = 0;
  std::string line;
};

// The record lines of pg_waldump's output.
std::vector<WaldumpRecord> ParseWaldumpRecords(const std::string& out);

// Where a record of `tot_len` bytes starting at `lsn` ends, MAXALIGNed: its bytes skip the
// page headers of the pages it continues onto (the long one at a segment start).
Lsn RecordEnd(Lsn lsn, uint32_t tot_len);

// XORs one byte of a file in place (a corruption after the fact).
absl::Status FlipByte(const std::string& path, uint64_t offset);

}  // namespace walrep::testing

#endif  // WALREP_TESTS_REPLAY_E2E_UTIL_H_
