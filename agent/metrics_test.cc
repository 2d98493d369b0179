#include "agent/metrics.h"

#include <cstdio>
#include <fstream>

#include "absl/time/time.h"
#include "agent/latency_histograms.h"
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
        "walrep_backup_done_bytes 0", "walrep_backup_estimated_bytes 1234",
        "walrep_replay_lag_bytes 50331648", "walrep_replay_lag_seconds 0.000",
        "# TYPE walrep_wal_fsync_duration_seconds histogram",
        "walrep_ack_latency_seconds_bucket{le=\"+Inf\"} 0", "process_cpu_seconds_total ",
        "process_resident_memory_bytes ", "process_open_fds ", "process_start_time_seconds ",
        "walrep_build_info{version=\"",
        "# TYPE walrep_reconnects_total counter"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

TEST(MetricsTest, HistogramIsCumulative) {
  LatencyHistogram h;
  h.Observe(absl::Microseconds(50));
  h.Observe(absl::Milliseconds(3));
  h.Observe(absl::Seconds(30));  // past the last bound: only in +Inf
  std::string out;
  h.Render(&out, "x_seconds", "help");
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.005\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"10\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 3\n"), std::string::npos) << out;
}

// promtool (Debian's prometheus package) is the arbiter of naming and format.
TEST(MetricsTest, PromtoolAcceptsTheOutput) {
  v1::Progress p;
  p.set_role(v1::ROLE_REPLICA);
  p.mutable_replay()->add_resource_managers()->set_name("Heap");
  WalFsyncHistogram().Observe(absl::Milliseconds(2));
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/metrics.txt";
  std::ofstream(path) << RenderPrometheus(p);
  std::string cmd = "/usr/bin/promtool check metrics < " + path + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), f)) output += buf;
  EXPECT_EQ(pclose(f), 0) << output;
}

}  // namespace
}  // namespace walrep
