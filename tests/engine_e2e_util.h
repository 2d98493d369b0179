// What the engine-postgres end-to-end tests share: the supervised standby (psql over its
// private socket, stopped when the test ends), a data directory the postgres OS user can
// reach, the agent's engine flags, bootstrap, and waiting for replay.
#ifndef WALREP_TESTS_ENGINE_E2E_UTIL_H_
#define WALREP_TESTS_ENGINE_E2E_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tests/agent_process.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {

// The standby walrep supervises. Killing the agent leaves it running, by design: the
// destructor stops it (immediate).
class Standby {
 public:
  Standby(std::string data_dir, int port) : data_dir_(std::move(data_dir)), port_(port) {}
  ~Standby();
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;
  // psql -XAt as postgres; with `verbose`, errors carry their SQLSTATE.
  absl::StatusOr<std::string> Psql(const std::string& sql, bool verbose = false) const;
  // The postmaster's pid (first line of postmaster.pid), "" when none.
  std::string PidFileLine1() const;

 private:
  std::string data_dir_;
  int port_;
};

// <fresh dir under /tmp, mode 0711>/data: the test's own temporary directory lies under
// root's home, which postgres cannot enter.
std::string EngineDataDir(const std::string& name);

// --engine=postgres and its flags for a standby on `port`.
std::vector<std::string> EngineFlags(int port);

// StartReplica with bootstrap, as application_name walrep_engine.
grpc::Status Bootstrap(AgentProcess& agent, const PgPrimary& pg, const std::string& extra = "");

// Waits until the standby replayed everything the primary has flushed now.
bool Replayed(AgentProcess& agent, const PgPrimary& pg, absl::Duration timeout);

// Makes `app` the primary's only synchronous standby at `level` (synchronous_commit);
// true once pg_stat_replication shows it as sync.
bool MakeSynchronous(const PgPrimary& pg, const std::string& app, const std::string& level);

// Commits `INSERT INTO k VALUES (i)` for i = 1, 2, ..., one psql each, in the background,
// appending to the file `committed` each i whose COMMIT returned; at the first failure (the
// primary gone) it stops and writes `committed`.end. k must exist (i int).
void StartCommitLoop(const PgPrimary& pg, const std::string& committed);
// The number of commits the loop recorded so far; whether it has stopped (only then is
// the record complete).
int CommittedCount(const std::string& committed);
bool CommitLoopEnded(const std::string& committed);
// A query counting the i in 1..n missing from k ("0" when every reported commit is there).
std::string MissingCommitsQuery(int n);

// A primary holding table t (1000 rows) and walrep's hot standby of it, bootstrapped
// through StartReplica and caught up. Use as ASSERT_NO_FATAL_FAILURE(rig.SetUp("name")).
struct EngineRig {
  std::unique_ptr<PgPrimary> pg;
  std::string data_dir;
  int port = 0;
  std::unique_ptr<Standby> standby;
  std::unique_ptr<AgentProcess> agent;
  std::string committed;  // SetUpUnderSyncCommits's commit log (StartCommitLoop)
  void SetUp(const std::string& name);
  // Instead of SetUp: the agent (application_name `app`) is the primary's synchronous
  // standby (synchronous_commit = on) under a loop of single-row commits into table k;
  // returns once 200 of them have been reported.
  void SetUpUnderSyncCommits(const std::string& name, const std::string& app);
  // Stops the primary with -m immediate (a crash: no shutdown checkpoint is streamed).
  void KillPrimary() const;

 private:
  // A primary with `table` made, and the agent bootstrapped from it (conninfo_extra
  // added to its conninfo) until its standby has replayed the primary's flush position.
  void Start(const std::string& name, const std::string& table,
             const std::string& conninfo_extra);
};

}  // namespace walrep::testing

#endif  // WALREP_TESTS_ENGINE_E2E_UTIL_H_
