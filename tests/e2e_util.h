// Helpers shared by the end-to-end tests: waiting on conditions, reading the agent's
// progress, and comparing walrep's WAL archive with a server's pg_wal byte for byte.
#ifndef WALREP_TESTS_E2E_UTIL_H_
#define WALREP_TESTS_E2E_UTIL_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/agent_process.h"
#include "tests/pg_fixture.h"
#include "wire/lsn.h"

namespace walrep::testing {

// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout);

absl::StatusOr<walrep::v1::Progress> GetProgress(AgentProcess& agent);

// The server's current flush (or replay, on a standby) position.
absl::StatusOr<Lsn> ServerFlushLsn(const PgPrimary& pg);

struct WalComparison {
  int complete_identical = 0;  // complete segments equal to the server's file
  int partial_checked = 0;     // .partial files whose flushed prefix equals the server's
  std::string mismatch;        // first difference found, empty if none
};
// Compares every segment in `archive_dir` with the same-named file in `pg_wal_dir`; a
// `.partial` up to `flush_lsn` only. Segments the server has already recycled are skipped
// (the count tells how many were compared).
WalComparison CompareWithServerWal(const std::string& archive_dir, const std::string& pg_wal_dir,
                                   Lsn flush_lsn, uint64_t segment_size = 16ull << 20);

std::string FreshTestDir(const std::string& name);

// StartReplica with status_interval 1 s; a slot is created when named. `edit` changes the
// request further; `out` receives the reply's progress.
grpc::Status StartReplica(AgentProcess& agent, const std::string& conninfo,
                          const std::string& slot = "", walrep::v1::Progress* out = nullptr,
                          std::function<void(walrep::v1::StartReplicaRequest*)> edit = nullptr);

// Promote with `apply_timeout` (its milliseconds) and `force`; the call's own deadline
// leaves 20 s beyond the apply_timeout.
grpc::Status CallPromote(AgentProcess& agent, absl::Duration apply_timeout, bool force,
                         walrep::v1::PromoteResponse* resp);

// pgbench against `pg` over its Unix socket; its output (or the error).
std::string Pgbench(const PgPrimary& pg, const std::string& args);

// Waits until the agent's durable flush reaches the server's current flush position
// (returned in `at`).
bool CaughtUp(AgentProcess& agent, const PgPrimary& pg, absl::Duration timeout, Lsn* at = nullptr);

// The agent's durable flush position (0/0 when it does not answer).
Lsn AgentFlush(AgentProcess& agent);

}  // namespace walrep::testing

#endif  // WALREP_TESTS_E2E_UTIL_H_
