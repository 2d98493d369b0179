#include "agent/metrics.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/latency_histograms.h"
#include "agent/process_metrics.h"

namespace walrep {
namespace {

void Metric(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help, uint64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                  value, "\n");
}

// An enum as a labelled gauge family: 1 for the current value, 0 for the others, so
// dashboards can alert on e.g. walrep_stream_state{state="backoff"} == 1.
template <typename EnumDesc>
void EnumMetric(std::string* out, absl::string_view name, absl::string_view label,
                absl::string_view help, absl::string_view prefix, int current,
                const EnumDesc* desc) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n");
  for (int i = 0; i < desc->value_count(); ++i) {
    const auto* v = desc->value(i);
    std::string value_name = v->name();
    if (absl::StartsWith(value_name, prefix)) value_name = value_name.substr(prefix.size());
    absl::AsciiStrToLower(&value_name);
    absl::StrAppend(out, name, "{", label, "=\"", value_name, "\"} ", v->number() == current ? 1 : 0,
                    "\n");
  }
}

}  // namespace

std::string RenderPrometheus(const walrep::v1::Progress& p) {
  std::string out;
  const auto& m = p.metrics();
  Metric(&out, "walrep_sessions_started_total", "counter",
         "Replication sessions started (connection attempts).", m.sessions_started());
  Metric(&out, "walrep_sessions_failed_total", "counter",
         "Replication sessions that ended in an error.", m.sessions_failed());
  Metric(&out, "walrep_reconnects_total", "counter",
         "Reconnect attempts after a failed or ended session.", m.reconnects());
  Metric(&out, "walrep_wal_received_bytes_total", "counter",
         "WAL bytes received from the primary.", m.wal_bytes_received());
  Metric(&out, "walrep_status_updates_sent_total", "counter",
         "Standby status updates sent to the primary.", m.status_updates_sent());
  absl::StrAppend(&out,
                  "# HELP walrep_last_session_start_timestamp_seconds Start of the last "
                  "replication session (Unix time).\n"
                  "# TYPE walrep_last_session_start_timestamp_seconds gauge\n"
                  "walrep_last_session_start_timestamp_seconds ",
                  absl::StrFormat("%.3f", m.last_session_start_time().seconds() +
                                              m.last_session_start_time().nanos() / 1e9),
                  "\n");
  Metric(&out, "walrep_receive_lsn", "gauge", "WAL position written to disk (bytes).",
         p.receive_lsn());
  Metric(&out, "walrep_flush_lsn", "gauge", "WAL position durably flushed (bytes).", p.flush_lsn());
  Metric(&out, "walrep_apply_lsn", "gauge", "WAL position applied (bytes).", p.apply_lsn());
  Metric(&out, "walrep_primary_wal_end_lsn", "gauge",
         "The primary's WAL end from its last message (bytes).", p.primary_wal_end_lsn());
  Metric(&out, "walrep_lag_bytes", "gauge", "Primary WAL end minus durable flush position.",
         p.lag_bytes());
  Metric(&out, "walrep_replay_lag_bytes", "gauge",
         "Durable flush position minus applied position: WAL on disk not yet replayed.",
         p.flush_lsn() > p.apply_lsn() ? p.flush_lsn() - p.apply_lsn() : 0);
  Metric(&out, "walrep_timeline", "gauge", "Current timeline.", p.timeline());
  const auto& r = p.replay();
  Metric(&out, "walrep_replay_records_total", "counter",
         "WAL records replayed (read back and verified) since start.", r.records());
  Metric(&out, "walrep_replay_bytes_total", "counter",
         "Bytes of WAL records replayed since start (xl_tot_len).", r.bytes());
  Metric(&out, "walrep_replay_full_page_images_total", "counter",
         "Full-page images in replayed records.", r.full_page_images());
  Metric(&out, "walrep_replay_full_page_image_bytes_total", "counter",
         "Bytes of full-page images in replayed records.", r.full_page_image_bytes());
  Metric(&out, "walrep_replay_commits_total", "counter", "Commit records replayed.", r.commits());
  Metric(&out, "walrep_replay_aborts_total", "counter", "Abort records replayed.", r.aborts());
  Metric(&out, "walrep_replay_restore_points_total", "counter", "Restore points replayed.",
         r.restore_points());
  absl::StrAppend(&out,
                  "# HELP walrep_replay_lag_seconds Age of the oldest flushed WAL not yet "
                  "replayed; 0 when caught up.\n"
                  "# TYPE walrep_replay_lag_seconds gauge\nwalrep_replay_lag_seconds ",
                  absl::StrFormat("%.3f", r.replay_lag().seconds() + r.replay_lag().nanos() / 1e9),
                  "\n");
  absl::StrAppend(&out,
                  "# HELP walrep_last_replayed_xact_timestamp_seconds Commit or abort time of "
                  "the last transaction replayed (Unix time; 0 if none).\n"
                  "# TYPE walrep_last_replayed_xact_timestamp_seconds gauge\n"
                  "walrep_last_replayed_xact_timestamp_seconds ",
                  absl::StrFormat("%.3f", r.last_replayed_xact_time().seconds() +
                                              r.last_replayed_xact_time().nanos() / 1e9),
                  "\n");
  absl::StrAppend(&out,
                  "# HELP walrep_replay_rmgr_records_total WAL records replayed, by resource "
                  "manager.\n# TYPE walrep_replay_rmgr_records_total counter\n");
  for (const auto& rm : r.resource_managers()) {
    absl::StrAppend(&out, "walrep_replay_rmgr_records_total{rmgr=\"", rm.name(), "\"} ",
                    rm.records(), "\n");
  }
  EnumMetric(&out, "walrep_role", "role", "The agent's role (1 for the current one).", "ROLE_",
             p.role(), walrep::v1::Role_descriptor());
  EnumMetric(&out, "walrep_stream_state", "state", "The stream's state (1 for the current one).",
             "STREAM_STATE_", p.stream_state(), walrep::v1::StreamState_descriptor());
  EnumMetric(&out, "walrep_stream_failure_reason", "reason",
             "Why the stream stopped for good (1 for the current reason; UNSPECIFIED while it "
             "has not).",
             "FAILURE_REASON_", p.failure_reason(), walrep::v1::FailureReason_descriptor());
  Metric(&out, "walrep_backup_done_bytes", "gauge", "Bytes received by the running base backup.",
         p.backup().bytes_done());
  // Not "_bytes_total": that suffix is for counters, and this is an estimate that can change.
  Metric(&out, "walrep_backup_estimated_bytes", "gauge",
         "Estimated size of the running base backup (0 if unknown).", p.backup().bytes_total());
  Metric(&out, "walrep_healthy", "gauge",
         "0 when the stream stopped for good (see walrep_stream_failure_reason and last_error), "
         "else 1.",
         p.stream_state() == walrep::v1::STREAM_STATE_FAILED ? 0 : 1);
  if (p.has_engine()) {
    const auto& e = p.engine();
    Metric(&out, "walrep_engine_restarts_total", "counter",
           "Restarts of the local PostgreSQL after it crashed, since the agent started.",
           e.restarts());
    absl::StrAppend(&out,
                    "# HELP walrep_engine_replay_advances_total Advances of the local "
                    "PostgreSQL's replay position, by how they were learnt (log: its startup "
                    "process's end-of-WAL lines; query: pg_last_wal_replay_lsn()).\n"
                    "# TYPE walrep_engine_replay_advances_total counter\n"
                    "walrep_engine_replay_advances_total{source=\"log\"} ",
                    e.replay_advances_from_log(),
                    "\nwalrep_engine_replay_advances_total{source=\"query\"} ",
                    e.replay_advances_from_query(), "\n");
    Metric(&out, "walrep_engine_replay_position_queries_total", "counter",
           "Replay-position queries run on the local PostgreSQL.", e.replay_position_queries());
  }
  WalFsyncHistogram().Render(&out, "walrep_wal_fsync_duration_seconds",
                             "Time to fdatasync a batch of received WAL.");
  AckLatencyHistogram().Render(
      &out, "walrep_ack_latency_seconds",
      "From receipt of WAL to the status update acknowledging it as flushed.");
  RenderProcessMetrics(&out);
  return out;
}

}  // namespace walrep
