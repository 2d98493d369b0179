// Agent's base-backup side: FetchBaseBackup and StartReplica's bootstrap, both through
// RunTrackedBackup (one backup at a time, mirrored into GetProgress). See agent.h.
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "backup/backup_job.h"
#include "backup/backup_target.h"
#include "agent/logging.h"
#include "agent/stream_failure.h"
#include "backup/incomplete.h"
#include "backup/manifest.h"
#include "replay/atomic_file.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("agent"); }

}  // namespace

absl::StatusOr<v1::BaseBackupResult> Agent::RunTrackedBackup(
    const v1::FetchBaseBackupRequest& request, const std::string& target,
    const std::function<bool()>& cancelled,
    const std::function<bool(const v1::BackupProgress&)>& on_progress) {
  RETURN_IF_ERROR(ValidateBackupTarget(target, config_.data_dir));
  if (backup_running_.exchange(true)) {
    return absl::FailedPreconditionError("a base backup is already running on this agent");
  }
  BaseBackupContext ctx;
  ctx.state_store = state_store_.get();
  ctx.data_dir = config_.data_dir;
  ctx.cancelled = [&] { return shutting_down_.load() || (cancelled && cancelled()); };
  ctx.on_progress = [&](const v1::BackupProgress& progress) {
    {
      absl::MutexLock lock(&backup_mu_);
      backup_progress_ = progress;
    }
    changes_.Notify();
    return on_progress ? on_progress(progress) : true;
  };
  auto result = RunBaseBackup(request, target, ctx);
  {
    absl::MutexLock lock(&backup_mu_);
    backup_progress_.reset();
  }
  backup_running_.store(false);
  changes_.Notify();
  if (result.ok()) SetIdentity(result->system_identifier(), result->timeline());
  return result;
}

absl::Status Agent::FetchBaseBackup(const v1::FetchBaseBackupRequest& request,
                                    const CancelledFn& cancelled, const BackupSink& sink) {
  if (shutting_down_.load()) return absl::UnavailableError("the agent is shutting down");
  ASSIGN_OR_RETURN(const bool aiondb, BackupIsAiondb(request));
  if (aiondb) return FetchAiondbBackup(request, cancelled, sink);
  // AUTO found PostgreSQL: the job runs it as such.
  v1::FetchBaseBackupRequest pg_request = request;
  if (pg_request.dialect() == v1::DIALECT_AUTO) pg_request.set_dialect(v1::DIALECT_POSTGRESQL);
  std::string target =
      request.target_dir().empty() ? config_.data_dir + "/pgdata" : request.target_dir();
  auto result = RunTrackedBackup(pg_request, target, cancelled, [&](const v1::BackupProgress& p) {
    v1::FetchBaseBackupResponse msg;
    *msg.mutable_progress() = p;
    return sink(msg);
  });
  if (!result.ok()) return result.status();
  v1::FetchBaseBackupResponse msg;
  *msg.mutable_result() = *result;
  if (!sink(msg)) return absl::CancelledError("the caller went away before the result");
  return absl::OkStatus();
}

absl::StatusOr<bool> Agent::NeedsBootstrap(const v1::StartReplicaRequest& request) {
  if (!request.bootstrap()) return false;
  ASSIGN_OR_RETURN(auto state, state_store_->LoadState());
  if (state && state->flush_lsn.valid()) return false;  // it has streamed before
  ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
  if (!sysid) return true;
  // An identity but no stream position: a bootstrap was interrupted (the copy is still
  // marked incomplete: take it again), or it finished just before its position was
  // recorded (recover the position from the copy's manifest).
  std::string pgdata = config_.data_dir + "/pgdata";
  auto incomplete = IsIncompleteWalrepBackup(pgdata);
  if (incomplete.ok() && *incomplete) return true;
  auto manifest = ReadSmallFile(pgdata + "/backup_manifest", size_t{1} << 30);
  if (manifest.ok()) {
    auto parsed = ParseBackupManifest(*manifest);
    if (parsed.ok() && !parsed->wal_ranges.empty()) {
      const WalRange& first = parsed->wal_ranges.front();
      // The session starts at this position's segment, once it knows the primary's
      // segment size.
      RETURN_IF_ERROR(state_store_->StoreState(
          ReplicationState{ReplicationRole::kReplica, first.start_lsn, first.timeline}));
    }
  }
  return false;
}

absl::Status Agent::Bootstrap(const v1::StartReplicaRequest& request,
                              const std::function<bool()>& stopped) {
  // Retried after a failure that came after the copy was complete and its position
  // recorded (e.g. the standby did not start): only what is left is done again.
  // The copy becomes a hot standby (engine postgres): it replays the backup's own WAL,
  // then what the stream appends to its pg_wal. A server that cannot run the copy (another
  // major version) will not by retrying.
  auto start_engine = [this]() -> absl::Status {
    if (!engine_) return absl::OkStatus();
    absl::Status started = StartEngineIfReady(ReplicationRole::kReplica);
    if (started.code() == absl::StatusCode::kFailedPrecondition) {
      return Terminal(v1::FAILURE_REASON_ENGINE, started);
    }
    return started;
  };
  ASSIGN_OR_RETURN(bool needs_copy, NeedsBootstrap(request));
  if (!needs_copy) return start_engine();
  v1::FetchBaseBackupRequest backup;
  backup.set_conninfo(request.conninfo());
  backup.set_label("walrep bootstrap");
  backup.set_fast_checkpoint(true);
  Log()->info("bootstrapping: base backup into {}/pgdata", config_.data_dir);
  ASSIGN_OR_RETURN(v1::BaseBackupResult result,
                   RunTrackedBackup(backup, config_.data_dir + "/pgdata", stopped, nullptr));
  // The session streams from the start of this position's segment (in the primary's
  // segment size), so that the archive holds all the WAL the copy needs and after it.
  Lsn start(result.start_lsn());
  RETURN_IF_ERROR(state_store_->StoreState(
      ReplicationState{ReplicationRole::kReplica, start, result.timeline()}));
  Log()->info("bootstrap done: backup of {} from {} on timeline {}; streaming from its segment",
              result.system_identifier(), start.ToString(), result.timeline());
  RETURN_IF_ERROR(start_engine());
  return absl::OkStatus();
}

}  // namespace walrep
