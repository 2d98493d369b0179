// The agent's side of the aiondb dialect: which dialect a StartReplica streams, the
// aiondb store's lifetime, and its positions in GetProgress.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backup/backup_target.h"
#include "aiondb/base_backup.h"
#include "backup/path_safety.h"
#include "agent/agent.h"
#include "agent/logging.h"
#include "wire/connection.h"
#include "wire/status_macros.h"

namespace walrep {

namespace {

// AUTO's probe: one connection, the startup's server_version.
absl::StatusOr<bool> ProbeAiondb(const ConnInfo& conninfo) {
  ConnectionOptions o;
  o.connect_timeout = absl::Seconds(5);
  o.io_timeout = absl::Seconds(5);
  auto conn = PgConnection::Connect(conninfo, o);
  if (!conn.ok()) {
    return absl::Status(conn.status().code(),
                        absl::StrCat("dialect AUTO: cannot reach the primary to tell its "
                                     "dialect: ", conn.status().message()));
  }
  const std::string version = (*conn)->parameter("server_version");
  (*conn)->Close();
  const bool aiondb = LooksLikeAiondb(version);
  ModuleLogger("agent")->info("dialect AUTO: server_version \"{}\" is {}", version,
                              aiondb ? "aiondb" : "PostgreSQL");
  return aiondb;
}

}  // namespace

absl::StatusOr<bool> Agent::ResolveAiondb(const v1::StartReplicaRequest& request,
                                          const StreamSettings& settings) {
  ASSIGN_OR_RETURN(bool aiondb_dir, IsAiondbDataDir(config_.data_dir));
  bool pg_dir = false;
  if (!aiondb_dir) {
    ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
    pg_dir = sysid.has_value() || writer_->positioned();
  }
  switch (request.dialect()) {
    case v1::DIALECT_AIONDB:
      if (pg_dir) {
        return absl::FailedPreconditionError(
            "this data directory holds PostgreSQL WAL; it cannot follow an aiondb primary "
            "(use a fresh data directory)");
      }
      return true;
    case v1::DIALECT_AUTO: {
      if (aiondb_dir) return true;
      if (pg_dir) return false;
      // An empty data directory: ask the primary what it is. aiondb speaks PostgreSQL's
      // startup, and its ParameterStatus server_version names it.
      return ProbeAiondb(settings.conninfo);
    }
    default:
      if (aiondb_dir) {
        return absl::FailedPreconditionError(
            "this data directory holds aiondb WAL; ask for dialect AIONDB (or AUTO)");
      }
      return false;
  }
}

absl::Status Agent::EnsureAiondb() {
  if (aiondb_) return absl::OkStatus();
  RETURN_IF_ERROR(MarkAiondbDataDir(config_.data_dir));
  AiondbReplica::Hooks hooks;
  hooks.on_identity = [this](uint64_t id, uint32_t t) { SetIdentity(id, t); };
  hooks.notify = [this] { changes_.Notify(); };
  ASSIGN_OR_RETURN(aiondb_, AiondbReplica::Open(config_.data_dir, &status_, std::move(hooks)));
  aiondb_ptr_.store(aiondb_.get());
  return absl::OkStatus();
}

absl::StatusOr<bool> Agent::BackupIsAiondb(const v1::FetchBaseBackupRequest& request) {
  if (request.dialect() == v1::DIALECT_AIONDB) return true;
  if (request.dialect() != v1::DIALECT_AUTO) return false;
  auto conninfo = ConnInfo::Parse(request.conninfo());
  if (!conninfo.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("conninfo: ", conninfo.status().message()));
  }
  return ProbeAiondb(*conninfo);
}

absl::Status Agent::FetchAiondbBackup(const v1::FetchBaseBackupRequest& request,
                                      const CancelledFn& cancelled, const BackupSink& sink) {
  // aiondb's BASE_BACKUP is one bare word: it takes none of PostgreSQL's options, and a
  // request for one is refused rather than silently ignored.
  std::vector<std::string> unsupported;
  if (!request.label().empty()) unsupported.push_back("label");
  if (request.fast_checkpoint()) unsupported.push_back("fast_checkpoint");
  if (request.max_rate_bytes_per_second() != 0) unsupported.push_back("max_rate_bytes_per_second");
  if (request.has_verify_checksums()) unsupported.push_back("verify_checksums");
  if (request.tablespace_mapping_size() > 0) unsupported.push_back("tablespace_mapping");
  if (request.has_compression()) unsupported.push_back("compression");
  if (request.format() == v1::BACKUP_FORMAT_TAR) unsupported.push_back("format TAR");
  if (request.write_recovery_conf()) unsupported.push_back("write_recovery_conf");
  if (request.tablespaces_in_place()) unsupported.push_back("tablespaces_in_place");
  if (!unsupported.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aiondb's BASE_BACKUP takes no options; not supported with dialect AIONDB: ",
        absl::StrJoin(unsupported, ", ")));
  }
  if (request.conninfo().empty()) return absl::InvalidArgumentError("conninfo is required");
  auto conninfo = ConnInfo::Parse(request.conninfo());
  if (!conninfo.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("conninfo: ", conninfo.status().message()));
  }
  if (absl::Status valid = conninfo->Validate(); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("conninfo: ", valid.message()));
  }
  if (request.target_dir().empty()) {
    return absl::InvalidArgumentError(
        "target_dir is required with dialect AIONDB: the backup is an aiondb WAL directory");
  }
  const std::string target = request.target_dir();
  RETURN_IF_ERROR(ValidateBackupTarget(target, config_.data_dir));
  {
    // Files are never written over: the target must be new or empty.
    bool created = false;
    ASSIGN_OR_RETURN(UniqueFd dir, OpenOrCreateDir(target, &created));
    ASSIGN_OR_RETURN(bool empty, IsDirEmpty(dir.get(), target));
    if (!empty) {
      return absl::FailedPreconditionError(absl::StrCat("target_dir ", target, " is not empty"));
    }
  }
  if (backup_running_.exchange(true)) {
    return absl::FailedPreconditionError("a base backup is already running on this agent");
  }
  bool receiver_gone = false;
  auto report = [&](const v1::BackupProgress& progress) {
    {
      absl::MutexLock lock(&backup_mu_);
      backup_progress_ = progress;
    }
    changes_.Notify();
    v1::FetchBaseBackupResponse msg;
    *msg.mutable_progress() = progress;
    if (!sink(msg)) receiver_gone = true;
  };
  v1::BackupProgress starting;
  starting.set_phase(v1::BACKUP_PHASE_STARTING);
  report(starting);
  absl::StatusOr<aiondb::FetchResult> got = aiondb::FetchBaseBackup(
      *conninfo, target,
      [&] { return receiver_gone || shutting_down_.load() || (cancelled && cancelled()); },
      [&](const aiondb::FetchProgress& p) {
        v1::BackupProgress progress;
        progress.set_phase(v1::BACKUP_PHASE_STREAMING);
        progress.set_bytes_done(p.bytes_written);
        progress.set_files_done(p.files_done);
        report(progress);
      });
  {
    absl::MutexLock lock(&backup_mu_);
    backup_progress_.reset();
  }
  backup_running_.store(false);
  changes_.Notify();
  if (!got.ok()) return got.status();
  v1::FetchBaseBackupResponse msg;
  v1::BaseBackupResult* r = msg.mutable_result();
  uint64_t sysid = 0;
  // aiondb's identifier is text; walrep's API carries a number (0 when it is not one).
  if (absl::SimpleAtoi(got->header.system_identifier, &sysid)) r->set_system_identifier(sysid);
  r->set_timeline(got->header.timeline);
  r->set_start_lsn(got->header.wal_start_lsn);
  r->set_bytes(got->bytes);
  r->set_files(got->files);
  r->set_target_dir(target);
  if (!sink(msg)) return absl::CancelledError("the caller went away before the result");
  return absl::OkStatus();
}

void Agent::FillAiondbProgress(v1::Progress* p) const {
  const AiondbReplica* a = aiondb_ptr_.load();
  if (a == nullptr) return;
  const uint64_t flushed = a->flushed_lsn();
  p->set_receive_lsn(std::max(a->written_lsn(), flushed));
  p->set_flush_lsn(flushed);
  p->set_apply_lsn(std::min(a->apply_lsn(), flushed));
  const uint64_t end = p->primary_wal_end_lsn();
  p->set_lag_bytes(end > flushed ? end - flushed : 0);
  p->mutable_replay()->set_records(a->replayed_records());
  p->mutable_replay()->set_bytes(a->replayed_bytes());
  p->mutable_replay()->clear_resource_managers();
  for (const AiondbReplica::KindCount& k : a->replayed_by_kind()) {
    auto* r = p->mutable_replay()->add_resource_managers();
    r->set_name(k.name);
    r->set_records(k.records);
    r->set_bytes(k.bytes);
  }
  if (absl::Status r = a->replay_failure(); !r.ok()) p->set_last_error(std::string(r.message()));
  if (absl::Status f = a->storage_failure(); !f.ok()) {
    p->set_stream_state(v1::STREAM_STATE_FAILED);
    p->set_failure_reason(v1::FAILURE_REASON_STORAGE);
    p->set_last_error(std::string(f.message()));
  }
}

}  // namespace walrep
