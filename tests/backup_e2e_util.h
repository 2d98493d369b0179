// What the base-backup end-to-end tests share: a scratch directory `postgres` can enter,
// a FetchBaseBackup call collecting its stream, SQL on a copy, and starting a copy as a
// server of its own.
#ifndef WALREP_TESTS_BACKUP_E2E_UTIL_H_
#define WALREP_TESTS_BACKUP_E2E_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "tests/agent_process.h"
#include "tests/pg_fixture.h"
#include "walrep/v1/agent.pb.h"

namespace walrep::testing {

inline constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

// A scratch directory under /tmp that `postgres` can traverse (the test's TEMPDIR may not
// be), removed at the end.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct BackupOutcome {
  grpc::Status status;
  std::vector<v1::BackupProgress> progress;
  std::optional<v1::BaseBackupResult> result;
};

// Runs FetchBaseBackup to its end (5 minutes unless `ctx` says otherwise).
BackupOutcome Fetch(AgentProcess& agent, const v1::FetchBaseBackupRequest& req,
                    grpc::ClientContext* ctx = nullptr);

// psql -XAt as postgres over the socket directory; "ERROR: ..." when it fails.
std::string Sql(int port, const std::string& socket_dir, const std::string& sql);

// Makes `target` startable by `postgres` on its own port and socket directory (appended
// to postgresql.auto.conf); `tsdir` (may be empty) is chowned too.
absl::Status PrepareCopy(const std::string& target, const std::string& tsdir, int port,
                         const std::string& sock, const std::string& extra_conf);

// On `pg`: tablespace `ts` at <root_dir>/ts_primary (owned by postgres) holding table
// ts_table(id, v) with `rows` rows. Returns the tablespace's location.
absl::StatusOr<std::string> CreateTablespaceTable(PgPrimary& pg, int rows);

// pg_ctl -w <action> -m fast on `target`, logging to target/server.log.
absl::Status PgCtl(const std::string& target, const std::string& action);

// psql's output without surrounding whitespace, or "ERROR: <message>".
std::string Trim(const absl::StatusOr<std::string>& s);

// No walsender and no (temporary) slot left on `pg`: a backup's WAL stream ended too.
bool NoReplicationLeft(const PgPrimary& pg);

// Whether a backup target carries the incomplete marker (backup/incomplete.h).
bool MarkedIncomplete(const std::string& dir);

}  // namespace walrep::testing

#endif  // WALREP_TESTS_BACKUP_E2E_UTIL_H_
