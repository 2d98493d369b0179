// A throwaway PostgreSQL 15 primary for one test: initdb as the `postgres` OS user in a
// fresh directory under /tmp, a free port on 127.0.0.1, scram-sha-256 (or md5, password,
// trust) in pg_hba.conf, wal_level=replica with senders and slots, a replication role
// with a password, and optionally TLS with a CA and server certificate generated here.
//
// The server is stopped (`pg_ctl stop -m immediate`) and its directory removed when the
// object is destroyed, and also when the test process dies any other way (timeout,
// SIGKILL): a small reaper process waits for the test to go away and cleans up.
//
// Not thread-safe; create and destroy it on one thread.
#ifndef WALREP_TESTS_PG_FIXTURE_H_
#define WALREP_TESTS_PG_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace walrep::testing {

struct PgPrimaryOptions {
  // pg_hba.conf method for TCP connections: scram-sha-256, md5, password or trust.
  std::string auth_method = "scram-sha-256";
  // password_encryption used when the roles' passwords are set (md5 or scram-sha-256).
  std::string password_encryption = "scram-sha-256";
  // Serve TLS with a fixture-generated CA and a certificate for localhost/127.0.0.1.
  bool tls = false;
  // When TLS is on: `hostssl` lines only, so plain connections are refused.
  bool tls_only = false;
  // Extra postgresql.conf lines.
  std::vector<std::string> extra_conf;
  // Extra pg_hba.conf lines, placed before the defaults.
  std::vector<std::string> extra_hba;
  // initdb --wal-segsize (MiB); 0 keeps PostgreSQL's default of 16.
  int wal_segsize_mb = 0;
};

class PgPrimary;

// A hot standby of `upstream`, made with pg_basebackup -R and streaming from it (a
// cascading source for tests of timeline following). Same lifetime guarantees.
absl::StatusOr<std::unique_ptr<PgPrimary>> StartStandby(const PgPrimary& upstream,
                                                        std::vector<std::string> extra_conf = {});

class PgPrimary {
 public:
  static constexpr const char* kReplUser = "replicator";
  static constexpr const char* kReplPassword = "s3cret-repl";
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  static absl::StatusOr<std::unique_ptr<PgPrimary>> Start(PgPrimaryOptions options = {});
  friend absl::StatusOr<std::unique_ptr<PgPrimary>> StartStandby(const PgPrimary&,
                                                                 std::vector<std::string>);
  ~PgPrimary();

  PgPrimary(const PgPrimary&) = delete;
  PgPrimary& operator=(const PgPrimary&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  // The cluster's data directory (owned by `postgres`).
  const std::string& data_dir() const { return data_dir_; }
  // The fixture's scratch root (owned by `postgres`, removed on teardown).
  const std::string& root_dir() const { return root_dir_; }
  // CA certificate that signed the server certificate (TLS only).
  std::string ca_cert_path() const { return root_dir_ + "/tls/ca.crt"; }
  const std::string& socket_dir() const { return socket_dir_; }

  // A keyword/value conninfo for the replication role over TCP.
  std::string ReplConnInfo(const std::string& extra = "") const;

  // Runs SQL as the superuser over the Unix socket with psql -XAt; returns stdout.
  absl::StatusOr<std::string> Psql(const std::string& sql, const std::string& db = "postgres") const;
  // Runs a PostgreSQL client program from kBinDir as `postgres` with the given arguments
  // (already shell-quoted); returns stdout.
  absl::StatusOr<std::string> RunTool(const std::string& tool, const std::string& args) const;

  // pg_ctl promote (for a standby), waiting until it accepts writes.
  absl::Status Promote();
  // The server's current WAL flush position (pg_current_wal_flush_lsn, or on a standby
  // pg_last_wal_replay_lsn).
  absl::StatusOr<std::string> CurrentFlushLsn() const;
  absl::Status Restart();
  absl::Status Stop();
  absl::Status StartServer();

 private:
  PgPrimary() = default;
  absl::Status Init(const PgPrimaryOptions& options, const PgPrimary* upstream = nullptr);
  absl::Status MakeRoot();
  absl::Status GenerateTls();
  void Teardown();

  std::string host_ = "127.0.0.1";
  int port_ = 0;
  std::string root_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  int reaper_pipe_ = -1;
  bool running_ = false;
};

// Runs `command` through /bin/sh; returns stdout, or an error with exit code and stderr.
absl::StatusOr<std::string> RunShell(const std::string& command);
// Single-quotes `s` for /bin/sh.
std::string ShellQuote(const std::string& s);
// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

}  // namespace walrep::testing

#endif  // WALREP_TESTS_PG_FIXTURE_H_
