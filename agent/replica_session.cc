#include "agent/replica_session.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "replay/segment.h"
#include "replay/timeline_history.h"
#include "wire/backend_error.h"
#include "wire/replication_commands.h"
#include "wire/replication_messages.h"
#include "wire/replication_results.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// How long a clean stop waits for the primary to acknowledge CopyDone.
constexpr absl::Duration kStopDrain = absl::Milliseconds(500);
// The stream loop wakes at least this often to notice a stop request.
constexpr absl::Duration kStopPoll = absl::Milliseconds(100);
// A flush batch never grows past this, so a primary that sends faster than we drain
// still gets regular acknowledgements.
constexpr uint64_t kMaxBatchBytes = 16ull << 20;
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
  auto conn = PgConnection::Connect(settings_.conninfo, options);
  if (!conn.ok()) {
    report_identity(conn.status());
    return conn.status();
  }
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
    return absl::FailedPreconditionError(absl::StrCat(
        "primary's system identifier ", ident.system_id, " differs from the expected ",
        *settings_.expected_system_id));
  }
  ASSIGN_OR_RETURN(auto stored, ctx_->state_store->LoadSystemId());
  if (stored && *stored != ident.system_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "primary's system identifier ", ident.system_id, " differs from this data directory's ",
        *stored, ": it is a different cluster"));
  }
  if (settings_.expected_timeline && *settings_.expected_timeline != ident.timeline) {
    return absl::FailedPreconditionError(absl::StrCat("primary is on timeline ", ident.timeline,
                                                      ", expected ", *settings_.expected_timeline));
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
    reported_flush_ = w->flush_lsn();
    if (server_tli > w->timeline()) RETURN_IF_ERROR(FollowForkBelowUs(conn, server_tli));
    return absl::OkStatus();
  }
  // An empty archive: the start position the bootstrap recorded, else the slot's restart
  // position, else the primary's current position — at a segment start, as pg_receivewal
  // begins.
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
  start = start.SegmentStart(ctx_->segment_size);
  Log()->info("starting at {} on timeline {} (from {})", start.ToString(), tli, source);
  RETURN_IF_ERROR(w->StartAtSegment(tli, start));
  if (ctx_->replayer) ctx_->replayer->ResetAtSegment(start);
  reported_flush_ = start;
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
    Log()->warn("the primary's timeline {} left timeline {} at {}, below this archive's "
                "position {} on it", server_tli, w->timeline(), fork.ToString(),
                w->write_lsn().ToString());
    return SwitchTimeline(conn, child, fork);
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "timeline ", w->timeline(), " of this archive is not in the history of the primary's "
      "timeline ", server_tli, ": it belongs to another branch; rebuild this replica"));
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
    Lsn from = Lsn(SegmentStartLsn(SegmentNumber(w->write_lsn(), ctx_->segment_size),
                                   ctx_->segment_size));
    StartReplicationOptions start{settings_.slot_name, from, w->timeline()};
    ASSIGN_OR_RETURN(std::string cmd, StartPhysicalReplicationCommand(start));
    char kind = 0;
    ASSIGN_OR_RETURN(auto pre, conn.StartCopy(cmd, &kind));
    if (kind == 0) {
      // Asked to start exactly at the end of a timeline: the answer is the next one.
      if (pre.empty()) return absl::DataLossError("START_REPLICATION returned neither COPY nor a result");
      ASSIGN_OR_RETURN(auto end, ParseEndOfTimeline(pre[0]));
      RETURN_IF_ERROR(SwitchTimeline(conn, end.next_timeline, end.switchpoint));
      continue;
    }
    if (kind != 'W') return absl::DataLossError("START_REPLICATION did not enter COPY BOTH mode");
    Log()->info("streaming from {} on timeline {}{}", from.ToString(), w->timeline(),
                settings_.slot_name.empty() ? "" : absl::StrCat(" via slot ", settings_.slot_name));
    ctx_->status->SetState(v1::STREAM_STATE_STREAMING);
    ctx_->status->SetError("");
    next_status_ = absl::Now();  // report our position right away
    last_receive_ = absl::Now();
    ping_sent_ = false;
    uint64_t batch = 0;
    if (ctx_->replayer) feedback_seen_ = ctx_->replayer->feedback_requests();
    for (;;) {
      if (stop_->load()) return StopCleanly(conn);
      absl::Time now = absl::Now();
      if (now >= next_status_) RETURN_IF_ERROR(FlushAndReport(conn, true));
      RETURN_IF_ERROR(ReportApplyIfRequested(conn));
      RETURN_IF_ERROR(CheckReceiverTimeout(conn, now));
      absl::Time deadline = std::min(next_status_, absl::Now() + kStopPoll);
      ASSIGN_OR_RETURN(auto msg, conn.ReadMessage(deadline));
      if (!msg) continue;
      last_receive_ = absl::Now();
      ping_sent_ = false;
      if (msg->type == 'c') {
        RETURN_IF_ERROR(FlushAndReport(conn, false));
        ASSIGN_OR_RETURN(auto next, FinishCopy(conn, false));
        RETURN_IF_ERROR(SwitchTimeline(conn, next.first, next.second));
        break;  // START_REPLICATION again on the new timeline
      }
      if (msg->type == 'C') {
        // A walsender that shuts down (fast or smart shutdown, switchover) ends COPY with
        // CommandComplete and exits, without CopyDone: a planned end, not an error.
        RETURN_IF_ERROR(w->Flush());
        conn.Close();
        primary_shut_down_ = true;
        return absl::UnavailableError(
            "the primary shut down; streaming resumes when it is back");
      }
      if (msg->type != 'd') {
        return absl::DataLossError(
            absl::StrCat("unexpected message '", std::string(1, msg->type), "' while streaming"));
      }
      ASSIGN_OR_RETURN(PrimaryMessage pm, DecodePrimaryMessage(msg->body));
      bool reply = false;
      if (auto* x = std::get_if<XLogData>(&pm)) {
        RETURN_IF_ERROR(HandleXLogData(x->start, x->wal_end, x->data));
        batch += x->data.size();
      } else {
        const auto& k = std::get<PrimaryKeepalive>(pm);
        ctx_->status->OnPrimaryMessage(k.wal_end.value());
        reply = k.reply_requested;
      }
      // A batch ends when nothing more is waiting (buffered or on the socket): fsync once
      // for all of it and acknowledge right away, so a synchronous commit waits for one
      // fsync, and a catch-up fsyncs once per drained socket rather than per message.
      if (reply || batch >= kMaxBatchBytes || !conn.MoreDataReady()) {
        RETURN_IF_ERROR(FlushAndReport(conn, reply));
        batch = 0;
      }
    }
  }
}

absl::Status ReplicaSession::HandleXLogData(Lsn start, Lsn wal_end, absl::string_view data) {
  ctx_->status->OnPrimaryMessage(std::max(wal_end, start + data.size()).value());
  ctx_->status->wal_bytes_received.fetch_add(data.size());
  streamed_ = true;
  WalWriter* w = ctx_->writer;
  Lsn expected = w->write_lsn();
  Lsn end = start + data.size();
  if (end <= expected) return absl::OkStatus();  // already on disk (re-streamed segment start)
  if (start < expected) {
    data.remove_prefix(expected - start);
    start = expected;
  }
  return w->Append(start, data);
}

absl::Status ReplicaSession::FlushAndReport(PgConnection& conn, bool force_report) {
  WalWriter* w = ctx_->writer;
  if (w->write_lsn() > w->flush_lsn()) RETURN_IF_ERROR(w->Flush());
  // The writer's flush position is the end of a complete record inside fsynced bytes:
  // after a crash, recovery finds at least this much again, so it may be reported.
  const bool advanced = w->flush_lsn() != reported_flush_;
  reported_flush_ = w->flush_lsn();
  if (advanced || force_report) RETURN_IF_ERROR(SendStatus(conn, false));
  if (advanced && ctx_->replayer) {
    // After the acknowledgement, not before: a synchronous commit waits on the flush.
    // A small batch (a commit) is replayed right here, without a thread hand-off; large
    // ones (catch-up) are left to the replay thread so the stream keeps flowing.
    ctx_->replayer->ReplayInline(kInlineReplayBytes);
    ctx_->replayer->Wake(reported_flush_);
  }
  return ReportApplyIfRequested(conn);
}

absl::Status ReplicaSession::CheckReceiverTimeout(PgConnection& conn, absl::Time now) {
  const absl::Duration timeout = settings_.receiver_timeout;
  if (timeout <= absl::ZeroDuration()) return absl::OkStatus();
  const absl::Duration silent = now - last_receive_;
  if (silent >= timeout) {
    // A partition: the socket stays open while nothing passes, and a synchronous commit
    // on the primary would wait until the kernel gives up (many minutes).
    return absl::UnavailableError(absl::StrCat(
        "nothing received from the primary for ", absl::FormatDuration(silent),
        " (receiver_timeout ", absl::FormatDuration(timeout), "); reconnecting"));
  }
  if (silent >= timeout / 2 && !ping_sent_) {
    ping_sent_ = true;
    // Flush first, so the request carries the current durable position.
    WalWriter* w = ctx_->writer;
    if (w->write_lsn() > w->flush_lsn()) RETURN_IF_ERROR(w->Flush());
    reported_flush_ = w->flush_lsn();
    return SendStatus(conn, /*reply_requested=*/true);
  }
  return absl::OkStatus();
}

absl::Status ReplicaSession::ReportApplyIfRequested(PgConnection& conn) {
  // A commit replayed whose session waits for it (remote_apply): tell the primary now,
  // as PostgreSQL's startup process makes its walreceiver reply, instead of at the next
  // interval. Other commits cost no extra message.
  if (ctx_->replayer == nullptr) return absl::OkStatus();
  const uint64_t requests = ctx_->replayer->feedback_requests();
  if (requests == feedback_seen_) return absl::OkStatus();
  feedback_seen_ = requests;
  return SendStatus(conn, false);
}

absl::Status ReplicaSession::SendStatus(PgConnection& conn, bool reply_requested) {
  StandbyStatusUpdate u;
  u.write = ctx_->writer->write_lsn();
  u.flush = reported_flush_;
  // The end of the last record replayed: remote_apply commits wait for it, and
  // pg_stat_replication shows it as replay_lsn.
  u.apply = ctx_->replayer ? std::min(ctx_->replayer->apply_lsn(), reported_flush_) : Lsn();
  u.client_time = ToPostgresMicros(absl::Now());
  u.reply_requested = reply_requested;
  RETURN_IF_ERROR(conn.SendCopyData(EncodeStandbyStatusUpdate(u)));
  ctx_->status->status_updates_sent.fetch_add(1);
  ctx_->status->Notify();
  next_status_ = absl::Now() + settings_.status_interval;
  return absl::OkStatus();
}

absl::StatusOr<std::pair<TimelineId, Lsn>> ReplicaSession::FinishCopy(PgConnection& conn,
                                                                      bool sent_copy_done) {
  if (!sent_copy_done) RETURN_IF_ERROR(conn.SendCopyDone());
  std::optional<std::pair<TimelineId, Lsn>> next;
  ResultSet rs;
  bool have_description = false;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    ASSIGN_OR_RETURN(auto msg, conn.ReadMessage(deadline));
    if (!msg) return absl::UnavailableError("timeout waiting for the end of the COPY");
    if (msg->type == 'T') {
      ASSIGN_OR_RETURN(rs.description, DecodeRowDescription(msg->body));
      rs.rows.clear();
      have_description = true;
    } else if (msg->type == 'D' && have_description) {
      ASSIGN_OR_RETURN(auto row, DecodeDataRow(msg->body));
      rs.rows.push_back(std::move(row));
    } else if (msg->type == 'C' && have_description && !rs.rows.empty() && !next) {
      ASSIGN_OR_RETURN(auto end, ParseEndOfTimeline(rs));
      next = {end.next_timeline, end.switchpoint};
    } else if (msg->type == 'Z') {
      break;
    }
    // 'd' after our CopyDone (late WAL) is discarded: the next START_REPLICATION resends it.
  }
  if (!next) return absl::UnavailableError("the primary ended replication (it is shutting down)");
  return *next;
}

absl::Status ReplicaSession::SwitchTimeline(PgConnection& conn, TimelineId next_tli,
                                            Lsn switchpoint) {
  WalWriter* w = ctx_->writer;
  Log()->info("timeline {} ended at {}; following timeline {}", w->timeline(),
              switchpoint.ToString(), next_tli);
  RETURN_IF_ERROR(FetchHistory(conn, next_tli));
  RETURN_IF_ERROR(w->SwitchTimeline(next_tli, switchpoint));
  // Replay of the old timeline's WAL past a fork below us does not carry over: the new
  // timeline is replayed from the fork.
  if (ctx_->replayer && ctx_->replayer->apply_lsn() > w->flush_lsn()) {
    ctx_->replayer->Reset(w->flush_lsn(), w->last_record());
  }
  RETURN_IF_ERROR(ctx_->state_store->StoreTimeline(next_tli));
  ReplicationState state{ReplicationRole::kReplica, w->flush_lsn(), next_tli};
  RETURN_IF_ERROR(ctx_->state_store->StoreState(state));
  reported_flush_ = w->flush_lsn();
  if (ctx_->on_identity) ctx_->on_identity(system_id_, next_tli);
  return absl::OkStatus();
}

absl::Status ReplicaSession::StopCleanly(PgConnection& conn) {
  absl::Status st = FlushAndReport(conn, true);
  if (st.ok()) st = conn.SendCopyDone();
  absl::Time deadline = absl::Now() + kStopDrain;
  while (st.ok()) {
    auto msg = conn.ReadMessage(deadline);
    if (!msg.ok() || !msg->has_value() || (*msg)->type == 'Z') break;
  }
  conn.Close();
  WalWriter* w = ctx_->writer;
  if (!w->failed()) {
    absl::Status persisted = ctx_->state_store->StoreState(
        ReplicationState{ReplicationRole::kReplica, w->flush_lsn(), w->timeline()});
    if (!persisted.ok()) return persisted;
  }
  Log()->info("stopped streaming at {} on timeline {}", w->flush_lsn().ToString(), w->timeline());
  return st.ok() ? w->failure() : st;
}

}  // namespace walrep
