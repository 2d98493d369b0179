// The agent's engine postgres: the --pg_* flags, starting the supervised server when its
// data directory is complete, and promotion through the server itself.
#include <ftw.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/logging.h"
#include "backup/incomplete.h"
#include "replay/atomic_file.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("agent"); }

// The uid/gid of --pg_os_user; nullopt when the agent does not run as root (files it
// creates are then already the server's).
absl::StatusOr<std::optional<std::pair<uid_t, gid_t>>> ServerOwner(const std::string& os_user) {
  if (geteuid() != 0) return std::optional<std::pair<uid_t, gid_t>>();
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwnam_r(os_user.c_str(), &pw, buf, sizeof(buf), &found) != 0 || found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--pg_os_user: no user \"", os_user, "\""));
  }
  return std::optional<std::pair<uid_t, gid_t>>(std::make_pair(pw.pw_uid, pw.pw_gid));
}

// chown -R without following symlinks (a tablespace link stays the link's).
absl::Status ChownTree(const std::string& root, uid_t uid, gid_t gid) {
  static thread_local std::pair<uid_t, gid_t> owner;
  static thread_local int failure;
  owner = {uid, gid};
  failure = 0;
  auto visit = [](const char* path, const struct stat*, int, struct FTW*) -> int {
    if (lchown(path, owner.first, owner.second) != 0) {
      failure = errno;
      return 1;
    }
    return 0;
  };
  if (nftw(root.c_str(), visit, 32, FTW_PHYS) != 0) {
    return ErrnoStatus("chown", root, failure != 0 ? failure : errno);
  }
  return absl::OkStatus();
}


}  // namespace

absl::Status Agent::ValidateEngineConfig(AgentConfig* config) {
  if (config->engine != Engine::kPostgres) {
    // Nothing silently ignored: the --pg_* flags mean something only for that engine.
    if (!config->pg_bindir.empty() || config->pg_port != 5432 ||
        config->pg_listen != "localhost" || !config->pg_os_user.empty()) {
      return absl::InvalidArgumentError("--pg_bindir, --pg_port, --pg_listen and --pg_os_user "
                                        "need --engine=postgres");
    }
    return absl::OkStatus();
  }
  if (config->pg_bindir.empty()) config->pg_bindir = DefaultPostgresBindir();
  if (config->pg_bindir.empty()) {
    return absl::InvalidArgumentError(
        "--engine=postgres: no /usr/lib/postgresql/*/bin found; set --pg_bindir");
  }
  if (access((config->pg_bindir + "/postgres").c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pg_bindir: ", config->pg_bindir, "/postgres is not an executable"));
  }
  if (config->pg_port < 1 || config->pg_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--pg_port ", config->pg_port, " is not a port"));
  }
  if (config->pg_listen.empty()) {
    return absl::InvalidArgumentError("--pg_listen is empty (use localhost, * or addresses)");
  }
  if (geteuid() == 0 && config->pg_os_user.empty()) {
    return absl::InvalidArgumentError(
        "--engine=postgres as root needs --pg_os_user: PostgreSQL refuses to run as root");
  }
  return absl::OkStatus();
}

PostgresOptions Agent::EngineOptions() const {
  PostgresOptions o;
  o.bindir = config_.pg_bindir;
  o.pgdata = config_.data_dir + "/pgdata";
  o.port = config_.pg_port;
  o.listen = config_.pg_listen;
  o.os_user = config_.pg_os_user;
  o.socket_dir = config_.data_dir + "/pgsocket";
  o.log_path = config_.data_dir + "/postgresql.log";
  o.local_user = LocalUser();
  return o;
}

std::string Agent::LocalUser() const {
  // walrep's own connection uses the role it replicates with: a copy of the primary has
  // it (trusted on the private socket only, see PostgresSupervisor::Configure).
  auto saved = ReadSmallFile(StreamConfigPath(), 1 << 20);
  if (saved.ok()) {
    v1::StartReplicaRequest req;
    if (google::protobuf::util::JsonStringToMessage(*saved, &req).ok()) {
      auto info = ConnInfo::Parse(req.conninfo());
      if (info.ok() && !info->user().empty()) return info->user();
    }
  }
  return "postgres";
}

void Agent::ConnectEngineToStream() {
  PostgresEngine* engine = engine_.get();
  stream_ctx_.engine_apply_lsn = [engine] { return engine->apply_lsn(); };
  stream_ctx_.engine_apply_advances = [engine] { return engine->advances(); };
  stream_ctx_.engine_wake = [engine](Lsn flushed) { engine->Wake(flushed); };
  stream_ctx_.engine_apply_waker = &engine_apply_waker_;
  if (engine->log_watch_fd() >= 0) {
    absl::Status watched = engine_apply_waker_.Watch(engine->log_watch_fd());
    if (watched.ok()) {
      stream_ctx_.engine_read_log = [engine] { engine->ReadLogNow(); };
    } else {
      Log()->warn("the stream cannot watch the server log ({}); its tailer thread passes "
                  "replay positions on", watched.message());
    }
  }
  stream_ctx_.engine_feedback = [engine] { return engine->feedback(); };
  stream_ctx_.engine_rewind = [this](const ConnInfo& source) { return RewindEngine(source); };
}

absl::Status Agent::StartEngineIfReady(ReplicationRole role) {
  if (!engine_->HasDataDirectory()) return absl::OkStatus();  // the bootstrap makes it
  auto incomplete = IsIncompleteWalrepBackup(config_.data_dir + "/pgdata");
  if (incomplete.ok() && *incomplete) return absl::OkStatus();  // taken again first
  ASSIGN_OR_RETURN(auto owner, ServerOwner(config_.pg_os_user));
  if (owner) {
    // The copy was extracted by root: PostgreSQL runs only on a data directory of its
    // own user, which must also reach it through the agent's directory (traverse only).
    RETURN_IF_ERROR(ChownTree(config_.data_dir + "/pgdata", owner->first, owner->second));
    if (chmod(config_.data_dir.c_str(), 0711) != 0) {
      return ErrnoStatus("chmod", config_.data_dir, errno);
    }
  }
  return engine_->Start(/*standby=*/role != ReplicationRole::kPrimary);
}

absl::Status Agent::RewindEngine(const ConnInfo& source) {
  // libpq keyword/value for pg_rewind: an ordinary session to a database (not the
  // replication protocol), without the password (it goes in a password file).
  std::string conninfo;
  for (const std::string& kw : source.SetKeywords()) {
    if (kw == "password" || kw == "replication" || kw == "dbname") continue;
    std::string value;
    for (char c : source.Get(kw)) {
      if (c == '\'' || c == '\\') value += '\\';
      value += c;
    }
    absl::StrAppend(&conninfo, conninfo.empty() ? "" : " ", kw, "='", value, "'");
  }
  absl::StrAppend(&conninfo, " dbname='", source.dbname().empty() ? "postgres" : source.dbname(),
                  "'");
  RETURN_IF_ERROR(engine_->Stop(absl::Seconds(60)));
  if (writer_->positioned() && !writer_->failed()) RETURN_IF_ERROR(writer_->Close());
  ASSIGN_OR_RETURN(std::string output,
                   engine_->Rewind(conninfo, source.has_password() ? source.password() : "",
                                   absl::Minutes(30)));
  Log()->info("pg_rewind: {}", output);
  // The rewound pg_wal holds the new primary's WAL from the last common checkpoint on:
  // its end is the durable position now.
  RETURN_IF_ERROR(RecoverWalStore());
  if (writer_->positioned()) {
    RETURN_IF_ERROR(state_store_->StoreTimeline(writer_->timeline()));
    RETURN_IF_ERROR(state_store_->StoreState(ReplicationState{
        ReplicationRole::kReplica, writer_->flush_lsn(), writer_->timeline()}));
  }
  return StartEngineIfReady(ReplicationRole::kReplica);
}

std::function<absl::Status(const std::string&)> Agent::GiveFilesToServer() const {
  auto owner = ServerOwner(config_.pg_os_user);
  if (!owner.ok() || !owner->has_value()) return nullptr;
  const uid_t uid = (*owner)->first;
  const gid_t gid = (*owner)->second;
  return [uid, gid](const std::string& path) -> absl::Status {
    if (chown(path.c_str(), uid, gid) != 0) return ErrnoStatus("chown", path, errno);
    return absl::OkStatus();
  };
}

absl::StatusOr<v1::PromoteResponse> Agent::PromoteEngineLocked(const v1::PromoteRequest& request,
                                                               absl::Duration timeout,
                                                               bool* committed) {
  v1::PromoteResponse resp;
  // Everything received becomes durable, then the server must have replayed all of it:
  // a commit the primary reported is visible after the promotion.
  StopStreamLocked();
  if (writer_->positioned() && writer_->write_lsn() > writer_->flush_lsn()) {
    RETURN_IF_ERROR(writer_->Flush());
  }
  const Lsn durable = writer_->flush_lsn();
  // Only a running standby can be promoted, force or not: one that crashed is waited
  // for while the supervisor restarts it (its replay position from before the crash
  // stands: pg_ctl promote ends recovery only after replaying all of pg_wal).
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status running = engine_->WaitForRunningStandby(deadline);
  if (!running.ok()) {
    return absl::Status(running.code(), absl::StrCat(running.message(),
                                                     "; not promoting: retry Promote"));
  }
  if (durable.valid() && !engine_->WaitForApply(durable, deadline - absl::Now()) &&
      !request.force()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the standby replayed up to ", engine_->apply_lsn().ToString(), " but the durable WAL "
        "ends at ", durable.ToString(), "; retry with a longer apply_timeout, or force"));
  }
  // From here the server writes its own WAL: walrep never writes into pg_wal again.
  *committed = true;
  if (writer_->positioned()) RETURN_IF_ERROR(writer_->Close());
  ASSIGN_OR_RETURN(PostgresEngine::Promotion promoted, engine_->Promote(absl::Minutes(2)));
  RETURN_IF_ERROR(state_store_->StoreTimeline(promoted.timeline));
  RETURN_IF_ERROR(state_store_->StoreState(
      ReplicationState{ReplicationRole::kPrimary, promoted.switch_lsn, promoted.timeline}));
  RETURN_IF_ERROR(RemoveFileDurably(StreamConfigPath()));
  {
    absl::MutexLock l(&mu_);
    role_ = v1::ROLE_PRIMARY;
    timeline_ = promoted.timeline;
    primary_conninfo_.clear();
    slot_name_.clear();
  }
  Log()->info("promoted: PostgreSQL opened timeline {} at {} and accepts writes",
              promoted.timeline, promoted.switch_lsn.ToString());
  changes_.Notify();
  resp.set_timeline(promoted.timeline);
  resp.set_switch_lsn(promoted.switch_lsn.value());
  *resp.mutable_progress() = GetProgress();
  return resp;
}

}  // namespace walrep
