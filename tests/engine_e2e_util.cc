#include "tests/engine_e2e_util.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace walrep::testing {

Standby::~Standby() {
  (void)RunShell(absl::StrCat("runuser -u postgres -- ", PgPrimary::kBinDir,
                              "/pg_ctl stop -m immediate -D ", ShellQuote(data_dir_ + "/pgdata"),
                              " >/dev/null 2>&1"));
}

absl::StatusOr<std::string> Standby::Psql(const std::string& sql, bool verbose) const {
  auto out = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", PgPrimary::kBinDir,
                                   "/psql -XAtq", verbose ? " -v VERBOSITY=verbose" : "", " -h ",
                                   ShellQuote(data_dir_ + "/pgsocket"), " -p ", port_,
                                   " -d postgres -c ", ShellQuote(sql), " 2>&1; true"));
  if (!out.ok()) return out;
  return std::string(absl::StripTrailingAsciiWhitespace(*out));
}

std::string Standby::PidFileLine1() const {
  auto line = RunShell("head -1 " + ShellQuote(data_dir_ + "/pgdata/postmaster.pid"));
  return line.ok() ? std::string(absl::StripAsciiWhitespace(*line)) : "";
}

std::string EngineDataDir(const std::string& name) {
  auto dir = RunShell("mktemp -d /tmp/walrep-engine-" + name + ".XXXXXX");
  if (!dir.ok()) return "/nonexistent";
  std::string path(absl::StripAsciiWhitespace(*dir));
  (void)RunShell("chmod 0711 " + ShellQuote(path));
  return path + "/data";
}

std::vector<std::string> EngineFlags(int port) {
  return {"--engine=postgres", absl::StrCat("--pg_bindir=", PgPrimary::kBinDir),
          absl::StrCat("--pg_port=", port), "--pg_listen=127.0.0.1", "--pg_os_user=postgres"};
}

grpc::Status Bootstrap(AgentProcess& agent, const PgPrimary& pg, const std::string& extra) {
  return StartReplica(agent, pg.ReplConnInfo(extra), "walrep_engine", nullptr,
                      [](walrep::v1::StartReplicaRequest* r) { r->set_bootstrap(true); });
}

bool Replayed(AgentProcess& agent, const PgPrimary& pg, absl::Duration timeout) {
  auto target = ServerFlushLsn(pg);
  if (!target.ok()) return false;
  return WaitFor([&] {
    auto p = GetProgress(agent);
    return p.ok() && p->engine().state() == walrep::v1::ENGINE_STATE_RECOVERING &&
           p->apply_lsn() >= target->value();
  }, timeout);
}

void EngineRig::Start(const std::string& name, const std::string& table,
                      const std::string& conninfo_extra) {
  auto started = PgPrimary::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  pg = std::move(*started);
  ASSERT_TRUE(pg->Psql(table).ok());
  data_dir = EngineDataDir(name);
  port = PickFreePort();
  standby = std::make_unique<Standby>(data_dir, port);
  auto a = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(a.ok()) << a.status();
  agent = std::move(*a);
  ASSERT_TRUE(Bootstrap(*agent, *pg, conninfo_extra).ok());
  ASSERT_TRUE(Replayed(*agent, *pg, absl::Seconds(120))) << agent->ReadLog();
}

void EngineRig::SetUp(const std::string& name) {
  Start(name, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS i", "");
}

void EngineRig::SetUpUnderSyncCommits(const std::string& name, const std::string& app) {
  ASSERT_NO_FATAL_FAILURE(
      Start(name, "CREATE TABLE k (i int PRIMARY KEY)", "application_name=" + app));
  ASSERT_TRUE(MakeSynchronous(*pg, app, "on"));
  committed = data_dir + "/../committed";
  StartCommitLoop(*pg, committed);
  ASSERT_TRUE(WaitFor([&] { return CommittedCount(committed) >= 200; }, absl::Seconds(60)));
}

void EngineRig::KillPrimary() const {
  ASSERT_TRUE(RunShell(absl::StrCat("runuser -u postgres -- ", PgPrimary::kBinDir,
                                    "/pg_ctl stop -m immediate -D ", ShellQuote(pg->data_dir()),
                                    " >/dev/null"))
                  .ok());
}

bool MakeSynchronous(const PgPrimary& pg, const std::string& app, const std::string& level) {
  if (!pg.Psql("ALTER SYSTEM SET synchronous_standby_names = '" + app + "'").ok() ||
      !pg.Psql("ALTER SYSTEM SET synchronous_commit = " + level).ok() ||
      !pg.Psql("SELECT pg_reload_conf()").ok()) {
    return false;
  }
  return WaitFor([&] {
    auto s = pg.Psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = '" + app + "'");
    return s.ok() && *s == "sync";
  }, absl::Seconds(30));
}

void StartCommitLoop(const PgPrimary& pg, const std::string& committed) {
  (void)RunShell(absl::StrCat(
      "(for i in $(seq 1 100000); do cd /tmp && runuser -u postgres -- ", PgPrimary::kBinDir,
      "/psql -XAtq -h ", ShellQuote(pg.socket_dir()), " -p ", pg.port(),
      " -d postgres -c \"INSERT INTO k VALUES ($i)\" >/dev/null 2>&1 && echo $i >> ",
      ShellQuote(committed), " || break; done; echo END > ", ShellQuote(committed + ".end"),
      ") >/dev/null 2>&1 &"));
}

int CommittedCount(const std::string& committed) {
  auto n = RunShell("wc -l < " + ShellQuote(committed) + " 2>/dev/null || echo 0");
  return n.ok() ? std::atoi(n->c_str()) : 0;
}

bool CommitLoopEnded(const std::string& committed) {
  return RunShell("test -f " + ShellQuote(committed + ".end")).ok();
}

std::string MissingCommitsQuery(int n) {
  return absl::StrCat("SELECT count(*) FROM generate_series(1, ", n,
                      ") g WHERE NOT EXISTS (SELECT 1 FROM k WHERE k.i = g)");
}

}  // namespace walrep::testing
