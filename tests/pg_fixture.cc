#include "tests/pg_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace walrep::testing {
namespace {

constexpr const char* kAsPostgres = "runuser -u postgres -- ";

absl::Status WriteText(const std::string& path, const std::string& text, bool append) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

absl::StatusOr<std::string> RunShell(const std::string& command) {
  char err_path[] = "/tmp/walrep-test-stderr.XXXXXX";
  int err_fd = mkstemp(err_path);
  if (err_fd < 0) return absl::InternalError("mkstemp failed");
  close(err_fd);
  std::string full = absl::StrCat("(", command, ") 2>", err_path);
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("popen failed: ", command));
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int rc = pclose(pipe);
  std::ifstream err_in(err_path);
  std::string err((std::istreambuf_iterator<char>(err_in)), std::istreambuf_iterator<char>());
  unlink(err_path);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("command failed (", WEXITSTATUS(rc), "): ", command,
                                            "\n", err, out));
  }
  return out;
}

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<PgPrimary>> PgPrimary::Start(PgPrimaryOptions options) {
  std::unique_ptr<PgPrimary> pg(new PgPrimary());
  absl::Status st = pg->Init(options);
  if (!st.ok()) return st;  // The destructor tears down whatever was created.
  return pg;
}

absl::Status PgPrimary::MakeRoot() {
  char root_template[] = "/tmp/walrep-pg.XXXXXX";
  if (mkdtemp(root_template) == nullptr) return absl::InternalError("mkdtemp failed");
  root_dir_ = root_template;
  data_dir_ = root_dir_ + "/data";
  socket_dir_ = root_dir_ + "/sock";

  // The reaper: a detached shell that waits for the write end of a pipe to close (this
  // process exiting, however it exits) and then stops the server and removes the files.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  std::string reap = absl::StrCat(
      "read _; ", kAsPostgres, PgPrimary::kBinDir, "/pg_ctl stop -m immediate -D ",
      ShellQuote(data_dir_), " >/dev/null 2>&1; rm -rf ", ShellQuote(root_dir_));
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    dup2(fds[0], 0);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl("/bin/sh", "sh", "-c", reap.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return absl::InternalError("fork failed");
  }
  reaper_pipe_ = fds[1];

  return RunShell(absl::StrCat("mkdir -p ", ShellQuote(socket_dir_), " && chown -R postgres ",
                               ShellQuote(root_dir_), " && chmod 0755 ", ShellQuote(root_dir_)))
      .status();
}

absl::Status PgPrimary::Init(const PgPrimaryOptions& options, const PgPrimary* upstream) {
  absl::Status made = MakeRoot();
  if (!made.ok()) return made;
  if (upstream != nullptr) {
    // A copy of the upstream with standby.signal and primary_conninfo (-R).
    auto copy = RunShell(absl::StrCat(
        "PGPASSWORD=", ShellQuote(kReplPassword), " ", kAsPostgres, kBinDir,
        "/pg_basebackup -D ", ShellQuote(data_dir_), " -R -X stream -c fast -d ",
        ShellQuote(absl::StrCat("host=127.0.0.1 port=", upstream->port(), " user=", kReplUser,
                                " application_name=standby"))));
    if (!copy.ok()) return copy.status();
    std::vector<std::string> conf = {absl::StrCat("unix_socket_directories = '", socket_dir_, "'"),
                                     "hot_standby = on"};
    for (const auto& line : options.extra_conf) conf.push_back(line);
    absl::Status st =
        WriteText(data_dir_ + "/postgresql.conf", "\n" + absl::StrJoin(conf, "\n") + "\n", true);
    if (!st.ok()) return st;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = PickFreePort();
      st = StartServer();
      if (st.ok()) break;
    }
    return st;
  }
  auto initdb = RunShell(absl::StrCat(kAsPostgres, kBinDir, "/initdb -D ", ShellQuote(data_dir_),
                                      " -U postgres --auth-local=trust --auth-host=reject",
                                      " --data-checksums -E UTF8 --locale=C.UTF-8",
                                      options.wal_segsize_mb > 0
                                          ? absl::StrCat(" --wal-segsize=", options.wal_segsize_mb)
                                          : std::string(),
                                      " >/dev/null"));
  if (!initdb.ok()) return initdb.status();

  if (options.tls) {
    absl::Status st = GenerateTls();
    if (!st.ok()) return st;
  }

  std::vector<std::string> conf = {
      "listen_addresses = '127.0.0.1'",
      absl::StrCat("unix_socket_directories = '", socket_dir_, "'"),
      "wal_level = replica",
      "max_wal_senders = 10",
      "max_replication_slots = 10",
      "wal_sender_timeout = 60s",
      "fsync = off",  // The primary's durability is not under test; walrep's is.
      "full_page_writes = on",
      "shared_buffers = 32MB",
      "max_connections = 40",
      absl::StrCat("password_encryption = '", options.password_encryption, "'"),
  };
  if (options.tls) {
    conf.push_back("ssl = on");
    conf.push_back(absl::StrCat("ssl_cert_file = '", root_dir_, "/tls/server.crt'"));
    conf.push_back(absl::StrCat("ssl_key_file = '", root_dir_, "/tls/server.key'"));
    conf.push_back(absl::StrCat("ssl_ca_file = '", root_dir_, "/tls/ca.crt'"));
  }
  for (const auto& line : options.extra_conf) conf.push_back(line);
  absl::Status st =
      WriteText(data_dir_ + "/postgresql.conf", "\n" + absl::StrJoin(conf, "\n") + "\n", true);
  if (!st.ok()) return st;

  std::vector<std::string> hba = options.extra_hba;
  hba.push_back("local all all trust");
  const std::string kind = options.tls && options.tls_only ? "hostssl" : "host";
  hba.push_back(absl::StrCat(kind, " replication all 127.0.0.1/32 ", options.auth_method));
  hba.push_back(absl::StrCat(kind, " all all 127.0.0.1/32 ", options.auth_method));
  st = WriteText(data_dir_ + "/pg_hba.conf", absl::StrJoin(hba, "\n") + "\n", false);
  if (!st.ok()) return st;

  // A free port can be taken by someone else between the probe and the bind; retry.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = PickFreePort();
    st = StartServer();
    if (st.ok()) break;
  }
  if (!st.ok()) return st;

  auto role = Psql(absl::StrCat("CREATE ROLE ", kReplUser, " WITH REPLICATION LOGIN PASSWORD '",
                                kReplPassword, "'"));
  if (!role.ok()) return role.status();
  return absl::OkStatus();
}

absl::Status PgPrimary::GenerateTls() {
  const std::string dir = root_dir_ + "/tls";
  const std::string q = ShellQuote(dir);
  std::string cmd = absl::StrCat(
      "set -e; mkdir -p ", q, "; cd ", q, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3",
      " -subj /CN=walrep-test-ca 2>/dev/null; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key -out other_ca.crt",
      " -days 3 -subj /CN=walrep-unrelated-ca 2>/dev/null; ",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext; ",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr",
      " -subj /CN=localhost 2>/dev/null; ",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial",
      " -out server.crt -days 3 -sha256 -extfile san.ext 2>/dev/null; ",
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr",
      " -subj /CN=", kReplUser, " 2>/dev/null; ",
      "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial",
      " -out client.crt -days 3 -sha256 2>/dev/null; ",
      "chmod 0600 *.key; chown -R postgres ", q);
  return RunShell(cmd).status();
}

absl::Status PgPrimary::StartServer() {
  auto out = RunShell(absl::StrCat(kAsPostgres, kBinDir, "/pg_ctl start -w -t 60 -D ",
                                   ShellQuote(data_dir_), " -l ", ShellQuote(root_dir_ + "/server.log"),
                                   " -o ", ShellQuote(absl::StrCat("-p ", port_)), " >/dev/null"));
  if (!out.ok()) {
    std::ifstream log(root_dir_ + "/server.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    return absl::InternalError(absl::StrCat(out.status().message(), "\nserver log:\n", text));
  }
  running_ = true;
  return absl::OkStatus();
}

absl::Status PgPrimary::Stop() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  return RunShell(absl::StrCat(kAsPostgres, kBinDir, "/pg_ctl stop -w -m fast -D ",
                               ShellQuote(data_dir_), " >/dev/null"))
      .status();
}

absl::StatusOr<std::unique_ptr<PgPrimary>> StartStandby(const PgPrimary& upstream,
                                                        std::vector<std::string> extra_conf) {
  std::unique_ptr<PgPrimary> pg(new PgPrimary());
  PgPrimaryOptions options;
  options.extra_conf = std::move(extra_conf);
  absl::Status st = pg->Init(options, &upstream);
  if (!st.ok()) return st;
  return pg;
}

absl::Status PgPrimary::Promote() {
  return RunShell(absl::StrCat(kAsPostgres, kBinDir, "/pg_ctl promote -w -t 60 -D ",
                               ShellQuote(data_dir_), " >/dev/null"))
      .status();
}

absl::StatusOr<std::string> PgPrimary::CurrentFlushLsn() const {
  return Psql(
      "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
      "ELSE pg_current_wal_flush_lsn() END");
}

absl::Status PgPrimary::Restart() {
  absl::Status st = Stop();
  if (!st.ok()) return st;
  return StartServer();
}

std::string PgPrimary::ReplConnInfo(const std::string& extra) const {
  std::string s = absl::StrCat("host=", host_, " port=", port_, " user=", kReplUser,
                               " password=", kReplPassword, " sslmode=disable");
  if (!extra.empty()) absl::StrAppend(&s, " ", extra);
  return s;
}

absl::StatusOr<std::string> PgPrimary::Psql(const std::string& sql, const std::string& db) const {
  auto out = RunShell(absl::StrCat(kAsPostgres, kBinDir, "/psql -XAtq -v ON_ERROR_STOP=1 -h ",
                                   ShellQuote(socket_dir_), " -p ", port_, " -d ", ShellQuote(db),
                                   " -c ", ShellQuote(sql)));
  if (!out.ok()) return out.status();
  return std::string(absl::StripTrailingAsciiWhitespace(*out));
}

absl::StatusOr<std::string> PgPrimary::RunTool(const std::string& tool,
                                               const std::string& args) const {
  return RunShell(absl::StrCat("cd /tmp && ", kAsPostgres, kBinDir, "/", tool, " ", args));
}

void PgPrimary::Teardown() {
  if (!data_dir_.empty()) {
    (void)RunShell(absl::StrCat(kAsPostgres, kBinDir, "/pg_ctl stop -m immediate -D ",
                                ShellQuote(data_dir_), " >/dev/null 2>&1 || true"));
  }
  if (!root_dir_.empty()) (void)RunShell(absl::StrCat("rm -rf ", ShellQuote(root_dir_)));
  if (reaper_pipe_ >= 0) close(reaper_pipe_);  // The reaper finds nothing left to do.
  reaper_pipe_ = -1;
}

PgPrimary::~PgPrimary() { Teardown(); }

}  // namespace walrep::testing
