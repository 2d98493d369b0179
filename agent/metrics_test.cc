#include "agent/metrics.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(MetricsTest, RendersEveryContractSeries) {
  v1::Progress p;
  p.set_role(v1::ROLE_REPLICA);
  p.set_stream_state(v1::STREAM_STATE_STREAMING);
  p.set_flush_lsn(0x3000000);
  p.set_timeline(2);
  p.mutable_metrics()->set_reconnects(7);
  p.mutable_metrics()->mutable_last_session_start_time()->set_seconds(1700000000);
  p.mutable_backup()->set_bytes_total(1234);
  std::string text = RenderPrometheus(p);
  for (const char* series :
       {"walrep_sessions_started_total 0", "walrep_sessions_failed_total 0",
        "walrep_reconnects_total 7", "walrep_wal_received_bytes_total 0",
        "walrep_status_updates_sent_total 0",
        "walrep_last_session_start_timestamp_seconds 1700000000.000", "walrep_receive_lsn 0",
        "walrep_flush_lsn 50331648", "walrep_apply_lsn 0", "walrep_lag_bytes 0",
        "walrep_timeline 2", "walrep_role{role=\"replica\"} 1", "walrep_role{role=\"primary\"} 0",
        "walrep_stream_state{state=\"streaming\"} 1", "walrep_stream_state{state=\"backoff\"} 0",
        "walrep_backup_bytes_done 0", "walrep_backup_bytes_total 1234",
        "# TYPE walrep_reconnects_total counter"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

}  // namespace
}  // namespace walrep
