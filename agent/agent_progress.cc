// Agent::GetProgress: what the agent reports of itself (GetProgress, WatchProgress, the
// metrics and /readyz read it), each fact from its one owner — positions from the WAL
// store and the replayer or engine, the stream's state from its status, the backup's
// from its job. The agent's class; split from agent.cc to keep each file to one concern.
#include <algorithm>

#include "agent/agent.h"
#include "agent/postgres_engine.h"
#include "agent/proto_time.h"
#include "replay/rmgr_names.h"

namespace walrep {
namespace {

void FillReplay(const ReplaySnapshot& s, absl::Duration lag, v1::ReplayProgress* out) {
  out->set_records(s.records);
  out->set_bytes(s.bytes);
  out->set_full_page_images(s.fpis);
  out->set_full_page_image_bytes(s.fpi_bytes);
  out->set_commits(s.commits);
  out->set_aborts(s.aborts);
  if (s.last_xact_time) ToProto(*s.last_xact_time, out->mutable_last_replayed_xact_time());
  out->set_restore_points(s.restore_points);
  out->set_last_restore_point(s.last_restore_point);
  int64_t us = absl::ToInt64Microseconds(lag);
  out->mutable_replay_lag()->set_seconds(us / 1000000);
  out->mutable_replay_lag()->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  for (int id = 0; id < 256; ++id) {
    const RmgrCounts& c = s.rmgr[id];
    if (c.records == 0) continue;
    auto* r = out->add_resource_managers();
    r->set_name(RmgrName(static_cast<uint8_t>(id)));
    r->set_records(c.records);
    r->set_bytes(c.bytes);
    r->set_full_page_images(c.fpis);
    r->set_full_page_image_bytes(c.fpi_bytes);
  }
}

}  // namespace

v1::Progress Agent::GetProgress() const {
  v1::Progress p;
  {
    absl::MutexLock lock(&mu_);
    p.set_role(role_);
    p.set_system_identifier(system_id_);
    p.set_timeline(timeline_);
    p.set_primary_conninfo(primary_conninfo_);
    p.set_slot_name(slot_name_);
  }
  if (p.role() != v1::ROLE_PRIMARY && writer_ && writer_->timeline() != 0) {
    p.set_timeline(writer_->timeline());
  }
  // One position, the WAL store's: the end of the last complete record fsynced.
  const uint64_t flush = writer_ ? writer_->flush_lsn().value() : 0;
  p.set_stream_state(status_.state());
  p.set_receive_lsn(writer_ ? std::max(writer_->write_lsn().value(), flush) : 0);
  p.set_flush_lsn(flush);
  p.set_apply_lsn(replayer_ ? replayer_->apply_lsn().value()
                            : engine_ ? std::min(engine_->apply_lsn().value(), flush) : 0);
  if (engine_) engine_->Fill(p.mutable_engine());
  ReplaySnapshot replay = replay_stats_.Snapshot();
  absl::Duration replay_lag = absl::ZeroDuration();
  if (replayer_) {
    replay_lag = replayer_->lag();
  } else if (engine_) {
    // The server replays: its own pg_last_xact_replay_timestamp(), and the age of what it
    // has not replayed of the durable WAL.
    replay_lag = engine_->lag(Lsn(flush));
    const absl::Time xact = engine_->last_replayed_xact_time();
    if (xact != absl::InfinitePast()) replay.last_xact_time = xact;
  }
  FillReplay(replay, replay_lag, p.mutable_replay());
  uint64_t end = status_.primary_wal_end();
  p.set_primary_wal_end_lsn(end);
  p.set_lag_bytes(end > p.flush_lsn() ? end - p.flush_lsn() : 0);
  if (status_.has_message()) ToProto(status_.last_message_time(), p.mutable_last_message_time());
  auto* m = p.mutable_metrics();
  m->set_sessions_started(status_.sessions_started.load());
  m->set_sessions_failed(status_.sessions_failed.load());
  m->set_reconnects(status_.reconnects.load());
  m->set_wal_bytes_received(status_.wal_bytes_received.load());
  m->set_status_updates_sent(status_.status_updates_sent.load());
  if (int64_t us = status_.last_session_start_us.load(); us != 0) {
    ToProto(absl::FromUnixMicros(us), m->mutable_last_session_start_time());
  }
  p.set_last_error(status_.last_error());
  p.set_last_error_code(static_cast<int32_t>(status_.last_error_code()));
  if (replayer_ && !replayer_->failure().ok()) {
    p.set_last_error(std::string(replayer_->failure().message()));
  }
  p.set_failure_reason(status_.failure_reason());
  if (writer_ && writer_->failed()) {
    p.set_stream_state(v1::STREAM_STATE_FAILED);
    p.set_failure_reason(v1::FAILURE_REASON_STORAGE);
  }
  {
    absl::MutexLock lock(&backup_mu_);
    if (backup_progress_) *p.mutable_backup() = *backup_progress_;
  }
  FillAiondbProgress(&p);
  return p;
}

}  // namespace walrep
