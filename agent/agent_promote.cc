// Promote: the checks every engine shares, and engine none's own promotion (a new
// timeline opened in the archive at the end of the verified WAL). Engine postgres's
// promotion is in agent_postgres.cc.
#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/logging.h"
#include "agent/proto_time.h"
#include "replay/atomic_file.h"
#include "replay/timeline_history.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("agent"); }

}  // namespace

absl::StatusOr<v1::PromoteResponse> Agent::Promote(const v1::PromoteRequest& request) {
  absl::MutexLock lock(&op_mu_);
  v1::Role role;
  {
    absl::MutexLock l(&mu_);
    role = role_;
  }
  if (aiondb_) {
    // aiondb promotes its own server; walrep keeps only its WAL files.
    return absl::UnimplementedError(
        "Promote is not supported for the aiondb dialect: start an aiondb server on the WAL "
        "directory and promote it");
  }
  if (role == v1::ROLE_PRIMARY) {  // idempotent: report what the promotion did
    v1::PromoteResponse resp;
    ASSIGN_OR_RETURN(auto state, state_store_->LoadState());
    resp.set_timeline(state ? state->timeline : writer_->timeline());
    resp.set_switch_lsn(state ? state->flush_lsn.value() : 0);
    *resp.mutable_progress() = GetProgress();
    return resp;
  }
  if (role == v1::ROLE_UNSPECIFIED || (engine_ && !engine_->HasDataDirectory())) {
    return absl::FailedPreconditionError(
        engine_ ? "nothing to promote: no standby yet (call StartReplica with bootstrap first)"
                : "nothing to promote: this agent never followed a primary (call StartReplica "
                  "first)");
  }
  if (backup_running_.load() || status_.state() == v1::STREAM_STATE_BOOTSTRAPPING) {
    return absl::FailedPreconditionError(
        "a base backup is running (FetchBaseBackup or StartReplica's bootstrap); promote "
        "after it has finished or been cancelled");
  }
  if (writer_->failed()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot promote after a WAL storage failure: ", writer_->failure().message()));
  }
  const absl::Duration timeout = request.has_apply_timeout()
                                     ? FromProto(request.apply_timeout())
                                     : absl::Seconds(30);
  if (timeout < absl::ZeroDuration()) return absl::InvalidArgumentError("apply_timeout must not be negative");
  // Promotion stops the stream first (everything received must be durable and replayed).
  // A promotion refused before it changed anything — replay short of the durable WAL
  // (DEADLINE_EXCEEDED), WAL that fails verification (DATA_LOSS), nothing received yet —
  // leaves the replica as it found it: a stream that was following its primary follows
  // it again, and one that had failed for good shows that failure again. An orchestrator
  // that asks too early (a short apply_timeout during a network blip) and then decides
  // not to fail over keeps a working replica.
  const bool was_following = stream_ != nullptr && !stream_->failed();
  const v1::FailureReason failure = status_.failure_reason();
  const std::string failure_message = status_.last_error();
  const absl::StatusCode failure_code = status_.last_error_code();
  bool committed = false;
  absl::StatusOr<v1::PromoteResponse> promoted =
      engine_ ? PromoteEngineLocked(request, timeout, &committed)
              : PromoteArchiveLocked(request, timeout, &committed);
  if (promoted.ok() || committed) return promoted;
  if (was_following) {
    Log()->info("promotion refused ({}); following the primary again",
                promoted.status().message());
    absl::Status resumed = StartStreamLocked(stream_request_, absl::Now());
    if (!resumed.ok() && !absl::IsDeadlineExceeded(resumed)) {
      Log()->error("cannot resume streaming after the refused promotion: {}", resumed.message());
    }
  } else if (failure != v1::FAILURE_REASON_UNSPECIFIED) {
    status_.SetFailed(failure, failure_message, failure_code);
  }
  return promoted;
}

absl::StatusOr<v1::PromoteResponse> Agent::PromoteArchiveLocked(const v1::PromoteRequest& request,
                                                                absl::Duration timeout,
                                                                bool* committed) {
  v1::PromoteResponse resp;
  // Everything received becomes durable: the session's clean stop fsyncs and reports.
  StopStreamLocked();
  if (!writer_->at_record_end()) {
    // Never positioned, or positioned at the segment a session began at with no record
    // there complete and durable yet: that segment boundary is not an end of WAL.
    return absl::FailedPreconditionError(
        "no WAL record has been received yet: there is no end of WAL to open a new "
        "timeline at");
  }
  if (writer_->write_lsn() > writer_->flush_lsn()) RETURN_IF_ERROR(writer_->Flush());
  // PostgreSQL's end of recovery: the end of the last valid record of the durable WAL.
  const Lsn durable = writer_->flush_lsn();
  Lsn switch_lsn = durable;
  replayer_->Wake();
  const bool applied = replayer_->WaitForApply(durable, timeout);
  const absl::Status replay = replayer_->failure();
  const Lsn apply = replayer_->apply_lsn();
  if (!replay.ok()) {
    if (!request.force()) {
      return absl::DataLossError(absl::StrCat(
          replay.message(), "; not promoting. Promote with force opens the new timeline at ",
          apply.ToString(), " and gives up the WAL after it"));
    }
    switch_lsn = apply;
  } else if (!applied) {
    if (!request.force()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "replay reached ", apply.ToString(), " but the durable WAL ends at ",
          durable.ToString(), "; retry with a longer apply_timeout, or force (loses the rest)"));
    }
    switch_lsn = apply;
  }
  if (switch_lsn < durable) {
    Log()->warn("forced promotion: the new timeline begins at {}, the WAL from there to {} is "
                "given up", switch_lsn.ToString(), durable.ToString());
  }
  if (!switch_lsn.valid()) {
    return absl::FailedPreconditionError("replay has not verified any WAL record yet");
  }
  const TimelineId old_tli = writer_->timeline();
  std::string parent;
  if (old_tli > 1) {
    auto content = ReadHistoryFile(stream_ctx_.wal_dir, old_tli);
    if (content.ok()) {
      parent = *content;
    } else if (!absl::IsNotFound(content.status())) {
      return content.status();
    }
  }
  const TimelineId new_tli = old_tli + 1;
  ASSIGN_OR_RETURN(std::string history,
                   BuildPromotionHistoryContent(parent, old_tli, switch_lsn,
                                                "promoted by walrep"));
  *committed = true;
  RETURN_IF_ERROR(writer_->WriteHistoryFile(new_tli, history));
  // The new timeline's first segment holds the old timeline's WAL up to the switch
  // point, as PostgreSQL writes it when it promotes: the archive stays one chain.
  RETURN_IF_ERROR(writer_->BeginTimeline(new_tli, switch_lsn));
  RETURN_IF_ERROR(writer_->Close());
  RETURN_IF_ERROR(state_store_->StoreTimeline(new_tli));
  RETURN_IF_ERROR(state_store_->StoreState(
      ReplicationState{ReplicationRole::kPrimary, switch_lsn, new_tli}));
  RETURN_IF_ERROR(RemoveFileDurably(StreamConfigPath()));
  {
    absl::MutexLock l(&mu_);
    role_ = v1::ROLE_PRIMARY;
    timeline_ = new_tli;
    primary_conninfo_.clear();  // it follows nobody now
    slot_name_.clear();
  }
  Log()->info("promoted: timeline {} begins at {}", new_tli, switch_lsn.ToString());
  changes_.Notify();
  resp.set_timeline(new_tli);
  resp.set_switch_lsn(switch_lsn.value());
  *resp.mutable_progress() = GetProgress();
  return resp;
}

}  // namespace walrep
