#include "tests/engine_e2e_util.h"

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

void EngineRig::SetUp(const std::string& name) {
  auto started = PgPrimary::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  pg = std::move(*started);
  ASSERT_TRUE(pg->Psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS i").ok());
  data_dir = EngineDataDir(name);
  port = PickFreePort();
  standby = std::make_unique<Standby>(data_dir, port);
  auto a = AgentProcess::Start({.data_dir = data_dir, .extra_flags = EngineFlags(port)});
  ASSERT_TRUE(a.ok()) << a.status();
  agent = std::move(*a);
  ASSERT_TRUE(Bootstrap(*agent, *pg).ok());
  ASSERT_TRUE(Replayed(*agent, *pg, absl::Seconds(120))) << agent->ReadLog();
}

}  // namespace walrep::testing
