#include "agent/readiness.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

v1::Progress Streaming(uint64_t end, uint64_t apply) {
  v1::Progress p;
  p.set_role(v1::ROLE_REPLICA);
  p.set_stream_state(v1::STREAM_STATE_STREAMING);
  p.set_primary_wal_end_lsn(end);
  p.set_apply_lsn(apply);
  return p;
}

TEST(ReadinessTest, AStreamingReplicaIsReadyWhileItsApplyLagIsWithinTheLimit) {
  EXPECT_EQ(Readiness(Streaming(1000, 1000), true, "").status, 200);
  EXPECT_EQ(Readiness(Streaming(kDefaultMaxReadyLagBytes + 10, 10), true, "").status, 200);
  HttpResponse lagging = Readiness(Streaming(kDefaultMaxReadyLagBytes + 11, 10), true, "");
  EXPECT_EQ(lagging.status, 503);
  EXPECT_NE(lagging.body.find("apply lag"), std::string::npos) << lagging.body;
  EXPECT_EQ(Readiness(Streaming(5000, 1000), true, "max_lag_bytes=4000").status, 200);
  EXPECT_EQ(Readiness(Streaming(5000, 1000), true, "max_lag_bytes=3999").status, 503);
}

TEST(ReadinessTest, BackoffStorageFailureAndADownEngineAreNotReadyAndSayWhy) {
  v1::Progress p = Streaming(10, 10);
  p.set_stream_state(v1::STREAM_STATE_BACKOFF);
  HttpResponse r = Readiness(p, true, "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: stream is BACKOFF\n");
  EXPECT_EQ(Readiness(Streaming(10, 10), false, "").status, 503);
  p = Streaming(10, 10);
  p.mutable_engine()->set_state(v1::ENGINE_STATE_CRASHED);
  r = Readiness(p, true, "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: PostgreSQL is CRASHED\n");
  p.mutable_engine()->set_state(v1::ENGINE_STATE_RECOVERING);
  EXPECT_EQ(Readiness(p, true, "").status, 200);
}

TEST(ReadinessTest, APrimaryIsReadyAndBadQueriesAreRefused) {
  v1::Progress p;
  p.set_role(v1::ROLE_PRIMARY);
  EXPECT_EQ(Readiness(p, true, "").status, 200);
  EXPECT_EQ(Readiness(p, true, "max_lag_bytes=x").status, 400);
  EXPECT_EQ(Readiness(p, true, "lag=5").status, 400);
}

}  // namespace
}  // namespace walrep
