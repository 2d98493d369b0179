#include "engine/postgres_conf.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/durable_file.h"
#include "replay/atomic_file.h"
#include "replay/errno_status.h"
#include "replay/file_ops.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Creates (or fixes) the socket directory: 0700 and owned by the server's user, so only
// that user and root can reach the trust-authenticated socket.
absl::Status PrepareSocketDir(const std::string& dir, FileOwner owner) {
  if (mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return ErrnoStatus("mkdir", dir, errno);
  struct stat st;
  if (lstat(dir.c_str(), &st) < 0) return ErrnoStatus("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("socket directory ", dir, " is no directory"));
  }
  if ((st.st_uid != owner.uid || st.st_gid != owner.gid) &&
      chown(dir.c_str(), owner.uid, owner.gid) < 0) {
    return ErrnoStatus("chown", dir, errno);
  }
  if ((st.st_mode & 07777) != 0700 && chmod(dir.c_str(), 0700) < 0) {
    return ErrnoStatus("chmod", dir, errno);
  }
  return FsyncDir(DirName(dir));
}

}  // namespace

std::string QuoteConfValue(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

std::string WalrepConfText(const PostgresOptions& o, const std::string& hba_path) {
  return absl::StrCat(
      "# Written by walrep at every start; edits are overwritten. Included last from\n"
      "# postgresql.conf, so these values win over the settings copied from the primary.\n",
      "port = ", o.port, "\n",                                           //
      "listen_addresses = ", QuoteConfValue(o.listen), "\n",             //
      "unix_socket_directories = ", QuoteConfValue(o.socket_dir), "\n",  //
      "hba_file = ", QuoteConfValue(hba_path), "\n",                     //
      "hot_standby = on\n",                                              //
      "# walrep writes the WAL into pg_wal itself: no walreceiver, no archive.\n",
      "primary_conninfo = ''\n",                //
      "restore_command = ''\n",                 //
      "recovery_target_timeline = 'latest'\n",  //
      "# How soon the startup process looks again at pg_wal for WAL walrep appended.\n",
      "wal_retrieve_retry_interval = '20ms'\n",  //
      "# stderr goes to walrep's log file, which walrep tails.\n",
      "logging_collector = off\n",  //
      "log_destination = 'stderr'\n",
      "# walrep reads the startup process's lines by their pid (engine/startup_log.h).\n",
      "log_line_prefix = ", QuoteConfValue(kLogLinePrefix), "\n");
}

std::string WalrepHbaText(absl::string_view copied_hba) {
  std::string out =
      "# Written by walrep. The socket directory is walrep's own (mode 0700), so only root\n"
      "# and the server's OS user reach this line.\n"
      "local all all trust\n"
      "# The primary's pg_hba.conf as copied by the base backup:\n";
  absl::StrAppend(&out, copied_hba);
  if (!copied_hba.empty() && copied_hba.back() != '\n') out += '\n';
  return out;
}

std::optional<std::string> WithIncludeLine(absl::string_view conf) {
  for (absl::string_view line : absl::StrSplit(conf, '\n')) {
    // Compare without blanks, so "include_if_exists='walrep.conf'" counts as present too;
    // anything after a '#' is a comment.
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::string compact;
    for (char c : line) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) compact += c;
    }
    if (compact == "include_if_exists='walrep.conf'") return std::nullopt;
  }
  std::string out(conf);
  if (!out.empty() && out.back() != '\n') out += '\n';
  absl::StrAppend(&out, kIncludeLine, "\n");
  return out;
}

std::vector<std::string> KeysOverriddenByAutoConf(absl::string_view auto_conf) {
  static constexpr absl::string_view kOwnKeys[] = {"port",
                                                   "listen_addresses",
                                                   "unix_socket_directories",
                                                   "hba_file",
                                                   "hot_standby",
                                                   "primary_conninfo",
                                                   "restore_command",
                                                   "recovery_target_timeline",
                                                   "wal_retrieve_retry_interval",
                                                   "logging_collector",
                                                   "log_destination",
                                                   "log_line_prefix"};
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(auto_conf, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    size_t end = 0;
    while (end < line.size() &&
           (absl::ascii_isalnum(static_cast<unsigned char>(line[end])) || line[end] == '_')) {
      ++end;
    }
    const std::string key = absl::AsciiStrToLower(line.substr(0, end));
    for (absl::string_view own : kOwnKeys) {
      if (key == own) out.push_back(key);
    }
  }
  return out;
}

absl::Status ConfigurePgdata(const PostgresOptions& o, bool standby) {
  if (o.pgdata.empty() || o.pgdata[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "the PostgreSQL data directory must be an absolute path, got \"", o.pgdata, "\""));
  }
  if (access(JoinPath(o.pgdata, "PG_VERSION").c_str(), F_OK) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.pgdata, " is not a PostgreSQL data directory (no PG_VERSION)"));
  }
  ASSIGN_OR_RETURN(FileOwner owner, OwnerOf(o.pgdata));
  if (!o.socket_dir.empty()) RETURN_IF_ERROR(PrepareSocketDir(o.socket_dir, owner));

  std::string copied_hba;
  absl::StatusOr<std::string> hba = ReadWholeFile(JoinPath(o.pgdata, "pg_hba.conf"));
  if (hba.ok()) {
    copied_hba = *std::move(hba);
  } else if (!absl::IsNotFound(hba.status())) {
    return hba.status();
  }
  const std::string hba_path = JoinPath(o.pgdata, kWalrepHbaName);
  RETURN_IF_ERROR(WriteFileDurably(hba_path, WalrepHbaText(copied_hba), owner));
  RETURN_IF_ERROR(
      WriteFileDurably(JoinPath(o.pgdata, kWalrepConfName), WalrepConfText(o, hba_path), owner));

  const std::string conf_path = JoinPath(o.pgdata, "postgresql.conf");
  std::string conf;
  absl::StatusOr<std::string> read = ReadWholeFile(conf_path);
  if (read.ok()) {
    conf = *std::move(read);
  } else if (!absl::IsNotFound(read.status())) {
    return read.status();
  }
  if (std::optional<std::string> with = WithIncludeLine(conf)) {
    RETURN_IF_ERROR(WriteFileDurably(conf_path, *with, owner));
  }

  const std::string signal = JoinPath(o.pgdata, "standby.signal");
  if (standby) {
    if (access(signal.c_str(), F_OK) < 0) RETURN_IF_ERROR(WriteFileDurably(signal, "", owner));
  } else {
    RETURN_IF_ERROR(RemoveFileDurably(signal));
  }
  return absl::OkStatus();
}

bool HasStandbySignal(const std::string& pgdata) {
  return access(JoinPath(pgdata, "standby.signal").c_str(), F_OK) == 0;
}

}  // namespace walrep
