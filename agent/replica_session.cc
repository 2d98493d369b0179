#include "agent/replica_session.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/stream_failure.h"
#include "replay/segment.h"
#include "replay/timeline_history.h"
#include "wire/backend_error.h"
#include "wire/replication_commands.h"
#include "wire/replication_messages.h"
#include "wire/replication_results.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Flushed WAL up to this size is replayed on the session thread before it is reported.
constexpr uint64_t kInlineReplayBytes = 256 << 10;

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("stream"); }

absl::Status Annotate(const absl::Status& st, absl::string_view what) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
}

}  // namespace

absl::Status ReplicaSession::Run(
    const std::function<void(const absl::Status&)>& identity_result) {
  auto report_identity = [&](const absl::Status& st) {
    if (identity_result) identity_result(st);
  };
  ctx_->status->SetState(v1::STREAM_STATE_CONNECTING);
  ConnectionOptions options;
  options.default_application_name = "walrep";
  options.cancel = connect_cancel_;
  auto conn = PgConnection::Connect(settings_.conninfo, options);
  if (!conn.ok()) {
    if (conn.status().code() == absl::StatusCode::kCancelled && stop_->load()) {
      return absl::OkStatus();  // stopped while connecting
    }
    report_identity(conn.status());
    return conn.status();
  }
  (*conn)->set_cancel_token(nullptr);
  Log()->info("connected to {} ({}, {}, server {})", (*conn)->endpoint(),
              (*conn)->is_tls() ? "TLS" : "plain", (*conn)->auth_method(),
              (*conn)->parameter("server_version"));
  absl::Status st = Identify(*conn);
  report_identity(st);
  if (!st.ok()) return st;
  st = Stream(**conn);
  if (!st.ok() && (*conn)->is_open()) (*conn)->Close();
  return st;
}

absl::Status ReplicaSession::Identify(std::unique_ptr<PgConnection>& conn) {
  ASSIGN_OR_RETURN(auto results, conn->Query(IdentifySystemCommand()));
  if (results.size() != 1) return absl::DataLossError("IDENTIFY_SYSTEM returned no row");
  ASSIGN_OR_RETURN(IdentifySystemResult ident, ParseIdentifySystem(results[0]));
  if (settings_.expected_system_id && *settings_.expected_system_id != ident.system_id) {
    return Terminal(v1::FAILURE_REASON_SYSTEM_ID_MISMATCH,
                    absl::FailedPreconditionError(absl::StrCat(
                        "primary's system identifier ", ident.system_id,
                        " differs from the expected ", *settings_.expected_system_id)));
  }
  ASSIGN_OR_RETURN(auto stored, ctx_->state_store->LoadSystemId());
  if (stored && *stored != ident.system_id) {
    return Terminal(v1::FAILURE_REASON_SYSTEM_ID_MISMATCH,
                    absl::FailedPreconditionError(absl::StrCat(
                        "primary's system identifier ", ident.system_id,
                        " differs from this data directory's ", *stored,
                        ": it is a different cluster")));
  }
  if (settings_.expected_timeline && *settings_.expected_timeline != ident.timeline) {
    return absl::FailedPreconditionError(absl::StrCat("primary is on timeline ", ident.timeline,
                                                      ", expected ", *settings_.expected_timeline));
  }
  // Asked on every connection: a primary rebuilt with another --wal-segsize must not
  // have its WAL cut into this archive's segments.
  ASSIGN_OR_RETURN(const uint64_t segment_size, ReadWalSegmentSize(*conn));
  WalWriter* w = ctx_->writer;
  if (segment_size != w->segment_size()) {
    if (w->positioned()) {
      return Terminal(v1::FAILURE_REASON_SEGMENT_SIZE_MISMATCH,
                      absl::FailedPreconditionError(absl::StrCat(
                          "the primary's wal_segment_size is ", segment_size, " bytes but this "
                          "data directory's WAL segments have ", w->segment_size(),
                          ": it is not the cluster this replica was made from")));
    }
    RETURN_IF_ERROR(w->SetSegmentSize(segment_size));
    Log()->info("the primary's WAL segments are {} MiB", segment_size >> 20);
  }
  if (!stored) {
    RETURN_IF_ERROR(ctx_->state_store->StoreSystemId(ident.system_id));
    RETURN_IF_ERROR(ctx_->state_store->StoreTimeline(ident.timeline));
  }
  system_id_ = ident.system_id;
  if (ctx_->on_identity) ctx_->on_identity(ident.system_id, ident.timeline);
  RETURN_IF_ERROR(EnsureSlot(*conn));
  return PositionWriter(*conn, ident.timeline, ident.xlogpos);
}

absl::Status ReplicaSession::EnsureSlot(PgConnection& conn) {
  if (settings_.slot_name.empty() || !settings_.create_slot) return absl::OkStatus();
  int version = conn.server_version_num();
  if (version >= 150000) {
    ASSIGN_OR_RETURN(std::string cmd, ReadReplicationSlotCommand(settings_.slot_name));
    ASSIGN_OR_RETURN(auto results, conn.Query(cmd));
    if (results.size() == 1) {
      ASSIGN_OR_RETURN(auto slot, ParseReadReplicationSlot(results[0]));
      if (slot.slot_type.has_value()) {
        if (*slot.slot_type != "physical") {
          return absl::FailedPreconditionError(absl::StrCat(
              "replication slot \"", settings_.slot_name, "\" is ", *slot.slot_type, ", not physical"));
        }
        return absl::OkStatus();
      }
    }
  }
  ASSIGN_OR_RETURN(std::string create,
                   CreatePhysicalSlotCommand(settings_.slot_name, {}, version));
  auto created = conn.Query(create);
  if (!created.ok()) {
    // 42710 duplicate_object: it exists (servers before 15 cannot be asked first).
    if (SqlStateOf(created.status()) == "42710") return absl::OkStatus();
    return Annotate(created.status(), "creating replication slot");
  }
  Log()->info("created physical replication slot \"{}\"", settings_.slot_name);
  return absl::OkStatus();
}

absl::Status ReplicaSession::PositionWriter(PgConnection& conn, TimelineId server_tli,
                                            Lsn server_xlogpos) {
  WalWriter* w = ctx_->writer;
  if (w->positioned()) {
    // The WAL store knows its durable position (recovered from the WAL at start, or
    // reached by an earlier session): continue there. Bytes written past it are
    // re-streamed.
    RETURN_IF_ERROR(w->Resume());
    if (server_tli > w->timeline()) RETURN_IF_ERROR(FollowForkBelowUs(conn, server_tli));
    return absl::OkStatus();
  }
  // An empty archive (a bootstrap leaves none: its WAL is the store's, agent_backup.cc):
  // the start position recorded in the state file, else the slot's restart position,
  // else the primary's current position — at a segment start, as pg_receivewal begins.
  TimelineId tli = server_tli;
  Lsn start = server_xlogpos;
  const char* source = "the primary's current WAL position";
  ASSIGN_OR_RETURN(auto state, ctx_->state_store->LoadState());
  if (state && state->flush_lsn.valid()) {
    tli = state->timeline;
    start = state->flush_lsn;
    source = "the recorded start position";
  } else if (!settings_.slot_name.empty() && conn.server_version_num() >= 150000) {
    ASSIGN_OR_RETURN(std::string cmd, ReadReplicationSlotCommand(settings_.slot_name));
    ASSIGN_OR_RETURN(auto results, conn.Query(cmd));
    if (results.size() == 1) {
      ASSIGN_OR_RETURN(auto slot, ParseReadReplicationSlot(results[0]));
      if (slot.restart_lsn && slot.restart_lsn->valid()) {
        start = *slot.restart_lsn;
        if (slot.restart_tli) tli = *slot.restart_tli;
        source = "the replication slot";
      }
    }
  }
  start = start.SegmentStart(w->segment_size());
  Log()->info("starting at {} on timeline {} (from {})", start.ToString(), tli, source);
  RETURN_IF_ERROR(w->StartAtSegment(tli, start));
  if (ctx_->replayer) ctx_->replayer->ResetAtSegment(start, w->segment_size());
  return absl::OkStatus();
}

absl::Status ReplicaSession::FollowForkBelowUs(PgConnection& conn, TimelineId server_tli) {
  WalWriter* w = ctx_->writer;
  ASSIGN_OR_RETURN(std::string cmd, TimelineHistoryCommand(server_tli));
  ASSIGN_OR_RETURN(auto results, conn.Query(cmd));
  if (results.size() != 1) return absl::DataLossError("TIMELINE_HISTORY returned no row");
  ASSIGN_OR_RETURN(auto history, ParseTimelineHistory(results[0], server_tli));
  ASSIGN_OR_RETURN(auto entries, ParseTimelineHistoryContent(history.content, server_tli));
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].parent != w->timeline()) continue;
    const Lsn fork = entries[i].switchpoint;
    if (fork >= w->write_lsn()) return absl::OkStatus();  // streamed up to it as usual
    // The primary's history leaves our timeline at a point below what we hold, and
    // START_REPLICATION there would be refused ("not in this server's history"): take
    // the switch now, as the end of the timeline would have announced it.
    const TimelineId child = i + 1 < entries.size() ? entries[i + 1].parent : server_tli;
    // A local standby that already replayed past the fork has applied WAL the new
    // primary never had: it cannot follow (PostgreSQL would refuse the timeline too).
    if (ctx_->engine_apply_lsn && ctx_->engine_apply_lsn() > fork) {
      return Terminal(
          v1::FAILURE_REASON_DIVERGED,
          absl::FailedPreconditionError(absl::StrCat(
              "the primary's timeline ", child, " forked from timeline ", w->timeline(),
              " at ", fork.ToString(), ", but this standby already replayed up to ",
              ctx_->engine_apply_lsn().ToString(),
              " on timeline ", w->timeline(), ": it has WAL the new primary never had. "
              "Rewind it (pg_rewind) or rebuild it from a base backup")));
    }
    Log()->warn("the primary's timeline {} left timeline {} at {}, below this archive's "
                "position {} on it", server_tli, w->timeline(), fork.ToString(),
                w->write_lsn().ToString());
    return SwitchTimeline(conn, child, fork);
  }
  return Terminal(v1::FAILURE_REASON_DIVERGED,
                  absl::FailedPreconditionError(absl::StrCat(
                      "timeline ", w->timeline(), " of this archive is not in the history of "
                      "the primary's timeline ", server_tli,
                      ": it belongs to another branch; rebuild this replica")));
}

absl::Status ReplicaSession::FetchHistory(PgConnection& conn, TimelineId tli) {
  if (tli <= 1) return absl::OkStatus();
  if (ReadHistoryFile(ctx_->wal_dir, tli).ok()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string cmd, TimelineHistoryCommand(tli));
  ASSIGN_OR_RETURN(auto results, conn.Query(cmd));
  if (results.size() != 1) return absl::DataLossError("TIMELINE_HISTORY returned no row");
  ASSIGN_OR_RETURN(auto history, ParseTimelineHistory(results[0], tli));
  RETURN_IF_ERROR(ctx_->writer->WriteHistoryFile(tli, history.content));
  Log()->info("stored {}", history.filename);
  return absl::OkStatus();
}

absl::Status ReplicaSession::Stream(PgConnection& conn) {
  WalWriter* w = ctx_->writer;
  for (;;) {
    RETURN_IF_ERROR(FetchHistory(conn, w->timeline()));
    Lsn from = w->write_lsn().SegmentStart(w->segment_size());
    StartReplicationOptions start{settings_.slot_name, from, w->timeline()};
    ASSIGN_OR_RETURN(std::string cmd, StartPhysicalReplicationCommand(start));
    char kind = 0;
    auto pre = conn.StartCopy(cmd, &kind);
    if (!pre.ok()) {
      absl::Status st = ClassifyStartError(pre.status(), from);
      return FailureReasonOf(st) ? st : Annotate(st, "START_REPLICATION");
    }
    if (kind == 0) {
      // Asked to start exactly at the end of a timeline: the answer is the next one.
      if (pre->empty()) return absl::DataLossError("START_REPLICATION returned neither COPY nor a result");
      ASSIGN_OR_RETURN(auto end, ParseEndOfTimeline((*pre)[0]));
      RETURN_IF_ERROR(SwitchTimeline(conn, end.next_timeline, end.switchpoint));
      continue;
    }
    if (kind != 'W') return absl::DataLossError("START_REPLICATION did not enter COPY BOTH mode");
    Log()->info("streaming from {} on timeline {}{}", from.ToString(), w->timeline(),
                settings_.slot_name.empty() ? "" : absl::StrCat(" via slot ", settings_.slot_name));
    ctx_->status->SetState(v1::STREAM_STATE_STREAMING);
    ctx_->status->SetError("");
    WalStreamLoop loop(conn, *w, LoopOptions());
    absl::StatusOr<WalStreamEnd> end = loop.Run();
    streamed_ = streamed_ || loop.received_wal();
    // The walsender enters COPY before it opens the first segment: a removed segment is
    // an ErrorResponse inside the stream.
    if (!end.ok()) return ClassifyStartError(end.status(), from);
    switch (end->kind) {
      case WalStreamEnd::Kind::kEndOfTimeline:
        RETURN_IF_ERROR(SwitchTimeline(conn, end->next_timeline, end->switchpoint));
        continue;  // START_REPLICATION again on the new timeline
      case WalStreamEnd::Kind::kPrimaryShutDown:
        primary_shut_down_ = true;
        return absl::UnavailableError("the primary shut down; streaming resumes when it is back");
      case WalStreamEnd::Kind::kStopRequested:
      case WalStreamEnd::Kind::kReachedEnd:
        return Stopped();
    }
  }
}

WalStreamOptions ReplicaSession::LoopOptions() {
  WalStreamOptions o;
  o.status_interval = settings_.status_interval;
  o.receiver_timeout = settings_.receiver_timeout;
  o.stop = stop_;
  StreamStatus* status = ctx_->status;
  o.on_primary_message = [status](Lsn wal_end, uint64_t bytes) {
    status->OnPrimaryMessage(wal_end.value());
    if (bytes > 0) status->wal_bytes_received.fetch_add(bytes);
  };
  o.on_status_sent = [status] {
    status->status_updates_sent.fetch_add(1);
    status->Notify();
  };
  WalReplayer* replayer = ctx_->replayer;
  if (replayer == nullptr && ctx_->engine_apply_lsn) {
    o.apply_lsn = ctx_->engine_apply_lsn;
    feedback_seen_ = ctx_->engine_apply_advances();
    o.apply_report_due = [this] {
      const uint64_t advances = ctx_->engine_apply_advances();
      if (advances == feedback_seen_) return false;
      feedback_seen_ = advances;
      return true;
    };
    o.on_flushed = [this](Lsn flushed) { ctx_->engine_wake(flushed); };
    o.apply_pending = [this](Lsn flushed) { return ctx_->engine_apply_lsn() < flushed; };
    o.apply_waker = ctx_->engine_apply_waker;
    o.on_wake = ctx_->engine_read_log;
    if (settings_.hot_standby_feedback) o.hot_standby_feedback = ctx_->engine_feedback;
    return o;
  }
  if (replayer == nullptr) return o;
  // The end of the last record replayed: remote_apply commits wait for it, and
  // pg_stat_replication shows it as replay_lsn.
  o.apply_lsn = [replayer] { return replayer->apply_lsn(); };
  // A commit replayed whose session waits for it (remote_apply): tell the primary now,
  // as PostgreSQL's startup process makes its walreceiver reply, instead of at the next
  // interval. Other commits cost no extra message.
  feedback_seen_ = replayer->feedback_requests();
  o.apply_report_due = [this, replayer] {
    const uint64_t requests = replayer->feedback_requests();
    if (requests == feedback_seen_) return false;
    feedback_seen_ = requests;
    return true;
  };
  o.on_acknowledged = [replayer](Lsn flushed) {
    // A small batch (a commit) is replayed right here, without a thread hand-off; large
    // ones (catch-up) are left to the replay thread so the stream keeps flowing.
    replayer->ReplayInline(kInlineReplayBytes);
    replayer->Wake(flushed);
  };
  return o;
}

absl::Status ReplicaSession::ClassifyStartError(const absl::Status& st, Lsn from) {
  const std::string sqlstate = SqlStateOf(st).value_or("");
  if (sqlstate == "58P01") {
    // undefined_file: "requested WAL segment ... has already been removed".
    return Terminal(v1::FAILURE_REASON_WAL_REMOVED_ON_PRIMARY,
                    absl::FailedPreconditionError(absl::StrCat(
                        "the primary has already removed the WAL this replica needs next (from ",
                        from.ToString(), " on timeline ", ctx_->writer->timeline(), "): ",
                        st.message(), ". Streaming cannot catch up: rebuild this replica from a "
                        "base backup, or restore the missing segments from a WAL archive; use "
                        "a replication slot to keep the primary from removing WAL it needs")));
  }
  if (sqlstate == "42704" && !settings_.slot_name.empty()) {
    // undefined_object: the slot does not exist (create_slot would have created it).
    return Terminal(v1::FAILURE_REASON_SLOT_MISSING,
                    absl::FailedPreconditionError(absl::StrCat(
                        "replication slot \"", settings_.slot_name,
                        "\" does not exist on the primary: create it (SELECT "
                        "pg_create_physical_replication_slot('", settings_.slot_name,
                        "', true)) or call StartReplica with create_slot")));
  }
  return st;
}

absl::Status ReplicaSession::SwitchTimeline(PgConnection& conn, TimelineId next_tli,
                                            Lsn switchpoint) {
  WalWriter* w = ctx_->writer;
  Log()->info("timeline {} ended at {}; following timeline {}", w->timeline(),
              switchpoint.ToString(), next_tli);
  RETURN_IF_ERROR(FetchHistory(conn, next_tli));
  RETURN_IF_ERROR(w->SwitchTimeline(next_tli, switchpoint));
  // Replay of the old timeline's WAL past a fork below us does not carry over: the new
  // timeline is replayed from the fork (checked between replay batches: one begun before
  // the switch may still be reading the old timeline).
  if (ctx_->replayer) ctx_->replayer->ResetIfPast(w->flush_lsn(), w->last_record());
  RETURN_IF_ERROR(ctx_->state_store->StoreTimeline(next_tli));
  ReplicationState state{ReplicationRole::kReplica, w->flush_lsn(), next_tli};
  RETURN_IF_ERROR(ctx_->state_store->StoreState(state));
  if (ctx_->on_identity) ctx_->on_identity(system_id_, next_tli);
  return absl::OkStatus();
}

absl::Status ReplicaSession::Stopped() {
  WalWriter* w = ctx_->writer;
  if (!w->failed()) {
    RETURN_IF_ERROR(ctx_->state_store->StoreState(
        ReplicationState{ReplicationRole::kReplica, w->flush_lsn(), w->timeline()}));
  }
  Log()->info("stopped streaming at {} on timeline {}", w->flush_lsn().ToString(), w->timeline());
  return w->failure();
}

}  // namespace walrep
