#include "tests/backup_e2e_util.h"

#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "backup/incomplete.h"
#include "tests/e2e_util.h"

namespace walrep::testing {

ScratchDir::ScratchDir() {
  char tmpl[] = "/tmp/walrep_backup_e2e.XXXXXX";
  path_ = mkdtemp(tmpl);
  (void)RunShell("chmod 0755 " + ShellQuote(path_));
}

ScratchDir::~ScratchDir() { (void)RunShell("rm -rf " + ShellQuote(path_)); }

BackupOutcome Fetch(AgentProcess& agent, const v1::FetchBaseBackupRequest& req,
                    grpc::ClientContext* ctx) {
  std::unique_ptr<grpc::ClientContext> own;
  if (ctx == nullptr) {
    own = agent.Context(absl::Minutes(5));
    ctx = own.get();
  }
  BackupOutcome out;
  auto reader = agent.stub()->FetchBaseBackup(ctx, req);
  v1::FetchBaseBackupResponse msg;
  while (reader->Read(&msg)) {
    if (msg.has_progress()) out.progress.push_back(msg.progress());
    if (msg.has_result()) out.result = msg.result();
  }
  out.status = reader->Finish();
  return out;
}

std::string Sql(int port, const std::string& socket_dir, const std::string& sql) {
  auto out = RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", kPgBin, "/psql -XAt -h ",
                                   ShellQuote(socket_dir), " -p ", port, " -d postgres -c ",
                                   ShellQuote(sql)));
  return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out))
                  : absl::StrCat("ERROR: ", out.status().message());
}

absl::Status PrepareCopy(const std::string& target, const std::string& tsdir, int port,
                         const std::string& sock, const std::string& extra_conf) {
  std::string conf = absl::StrCat("port = ", port, "\nunix_socket_directories = '", sock,
                                  "'\nlisten_addresses = '127.0.0.1'\n", extra_conf);
  return RunShell(absl::StrCat("mkdir -p ", ShellQuote(sock), " && printf %s ", ShellQuote(conf),
                               " >> ", ShellQuote(target + "/postgresql.auto.conf"),
                               " && chown -R postgres ", ShellQuote(target), " ",
                               tsdir.empty() ? "" : ShellQuote(tsdir), " ", ShellQuote(sock),
                               " && chmod 0700 ", ShellQuote(target)))
      .status();
}

absl::StatusOr<std::string> CreateTablespaceTable(PgPrimary& pg, int rows) {
  std::string location = pg.root_dir() + "/ts_primary";
  auto made = RunShell(absl::StrCat("mkdir -p ", ShellQuote(location), " && chown postgres ",
                                    ShellQuote(location)));
  if (!made.ok()) return made.status();
  for (const std::string& sql :
       {absl::StrCat("CREATE TABLESPACE ts LOCATION '", location, "'"),
        std::string("CREATE TABLE ts_table (id int PRIMARY KEY, v text) TABLESPACE ts"),
        absl::StrCat("INSERT INTO ts_table SELECT g, md5(g::text) FROM generate_series(1, ", rows,
                     ") g")}) {
    auto r = pg.Psql(sql);
    if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat(sql, ": ", r.status().message()));
  }
  return location;
}

absl::Status PgCtl(const std::string& target, const std::string& action) {
  return RunShell(absl::StrCat("cd /tmp && runuser -u postgres -- ", kPgBin, "/pg_ctl -w -t 60 -D ",
                               ShellQuote(target), " -l ", ShellQuote(target + "/server.log"),
                               " ", action, " -m fast"))
      .status();
}

std::string Trim(const absl::StatusOr<std::string>& s) {
  return s.ok() ? std::string(absl::StripAsciiWhitespace(*s))
                : absl::StrCat("ERROR: ", s.status().message());
}

bool NoReplicationLeft(const PgPrimary& pg) {
  return Trim(pg.Psql("SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                      "'walsender') + (SELECT count(*) FROM pg_replication_slots)")) == "0";
}

bool MarkedIncomplete(const std::string& dir) {
  return RunShell("test -f " + ShellQuote(dir + "/" + kIncompleteMarkerName)).ok();
}

}  // namespace walrep::testing
