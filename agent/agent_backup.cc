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
#include "replay/wal_files.h"
#include "replay/wal_import.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("agent"); }

}  // namespace

absl::StatusOr<v1::BaseBackupResult> Agent::RunTrackedBackup(
    const v1::FetchBaseBackupRequest& request, const std::string& target,
    const std::function<bool()>& cancelled,
    const std::function<bool(const v1::BackupProgress&)>& on_progress, bool for_replica) {
  RETURN_IF_ERROR(ValidateBackupTarget(target, config_.data_dir));
  if (backup_running_.exchange(true)) {
    return absl::FailedPreconditionError("a base backup is already running on this agent");
  }
  BaseBackupContext ctx;
  ctx.state_store = state_store_.get();
  ctx.data_dir = config_.data_dir;
  ctx.wal_to_primary_position = for_replica;
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

absl::StatusOr<Agent::BootstrapStep> Agent::NextBootstrapStep(
    const v1::StartReplicaRequest& request) {
  if (!request.bootstrap()) return BootstrapStep::kNone;
  ASSIGN_OR_RETURN(auto state, state_store_->LoadState());
  if (state && state->flush_lsn.valid()) return BootstrapStep::kNone;  // it has streamed before
  ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
  if (!sysid) return BootstrapStep::kCopy;
  // An identity but no stream position: a bootstrap was interrupted (the copy is still
  // marked incomplete: take it again), or it finished just before its WAL was adopted.
  auto incomplete = IsIncompleteWalrepBackup(config_.data_dir + "/pgdata");
  if (incomplete.ok() && *incomplete) return BootstrapStep::kCopy;
  return BootstrapStep::kAdopt;
}

absl::Status Agent::AdoptBootstrapWal(const ReplicationState& without_wal, bool copied_now) {
  // The backup's stream wrote the copy's WAL into pgdata/pg_wal, fsynced, up to the
  // primary's WAL position when the backup ended (backup_wal_stream.h). It becomes the
  // WAL store's, so that the durable position is recovered from it like any other WAL
  // and streaming continues where it ends: the segments before it may be gone from a
  // primary without a slot by the time the stream starts (DATA_DIR.md).
  const std::string pg_wal = config_.data_dir + "/pgdata/pg_wal";
  if (!writer_->positioned()) {
    // An archive still empty learns the segment size from the copy's files.
    ASSIGN_OR_RETURN(std::optional<uint64_t> seg_size,
                     SegmentSizeOfFiles(pg_wal, DefaultFileOps()));
    if (seg_size) RETURN_IF_ERROR(writer_->SetSegmentSize(*seg_size));
  }
  if (!postgres()) {
    // Engine none keeps an archive: the copy's pg_wal stays as it is (a startable,
    // verifiable copy), and its WAL is copied into <data_dir>/wal.
    ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
    ASSIGN_OR_RETURN(ImportedWal imported,
                     ImportWalIntoArchive(pg_wal, writer_->options().dir, writer_->segment_size(),
                                          sysid ? *sysid : 0, DefaultFileOps()));
    Log()->info("the base backup's WAL is in the archive: {} segment files copied",
                imported.segments);
  }
  // Engine postgres's store is pg_wal itself: an agent started after the copy was made
  // recovered its position from it already (and may run the standby on it by now); one
  // started before it may hold a position in an interrupted copy's WAL, now replaced.
  if (!postgres() || copied_now || !writer_->positioned()) RETURN_IF_ERROR(RecoverWalStore());
  if (writer_->positioned()) {
    return state_store_->StoreState(
        ReplicationState{ReplicationRole::kReplica, writer_->flush_lsn(), writer_->timeline()});
  }
  // No WAL in the copy (not one walrep made): the session starts from the recorded
  // position, as in any empty WAL directory, else from the primary's.
  Log()->warn("the base backup left no WAL in {}", pg_wal);
  if (!without_wal.flush_lsn.valid()) return absl::OkStatus();
  return state_store_->StoreState(without_wal);
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
  ASSIGN_OR_RETURN(BootstrapStep step, NextBootstrapStep(request));
  if (step == BootstrapStep::kNone) return start_engine();
  // Where streaming starts should the copy hold no WAL at all: the backup's start.
  ReplicationState without_wal{ReplicationRole::kReplica, Lsn(), 0};
  if (step == BootstrapStep::kCopy) {
    v1::FetchBaseBackupRequest backup;
    backup.set_conninfo(request.conninfo());
    backup.set_label("walrep bootstrap");
    backup.set_fast_checkpoint(true);
    Log()->info("bootstrapping: base backup into {}/pgdata", config_.data_dir);
    ASSIGN_OR_RETURN(v1::BaseBackupResult result,
                     RunTrackedBackup(backup, config_.data_dir + "/pgdata", stopped, nullptr,
                                      /*for_replica=*/true));
    without_wal.flush_lsn = Lsn(result.start_lsn());
    without_wal.timeline = result.timeline();
    Log()->info("bootstrap copy done: backup of {} from {} to {} on timeline {}",
                result.system_identifier(), without_wal.flush_lsn.ToString(),
                Lsn(result.end_lsn()).ToString(), result.timeline());
  } else {
    auto manifest = ReadSmallFile(config_.data_dir + "/pgdata/backup_manifest", size_t{1} << 30);
    if (manifest.ok()) {
      auto parsed = ParseBackupManifest(*manifest);
      if (parsed.ok() && !parsed->wal_ranges.empty()) {
        without_wal.flush_lsn = parsed->wal_ranges.front().start_lsn;
        without_wal.timeline = parsed->wal_ranges.front().timeline;
      }
    }
  }
  RETURN_IF_ERROR(AdoptBootstrapWal(without_wal, step == BootstrapStep::kCopy));
  Log()->info("bootstrap done: streaming continues from {} on timeline {}",
              writer_->positioned() ? writer_->flush_lsn().ToString()
                                    : without_wal.flush_lsn.ToString(),
              writer_->positioned() ? writer_->timeline() : without_wal.timeline);
  return start_engine();
}

}  // namespace walrep
