// A full disk under the agent's data directory (a 24 MiB tmpfs: one 16 MiB segment fits,
// the next does not): the receiver fails for good, stops acknowledging, health says
// NOT_SERVING, /metrics and last_error say why, and the primary was never told of a
// flush position that is not on disk.
#include <sys/mount.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& dir) : dir_(dir) {
    (void)RunShell("mkdir -p " + ShellQuote(dir));
    ok_ = mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=24m,mode=0700") == 0;
  }
  ~TmpfsMount() {
    if (ok_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

TEST(StorageFailureE2eTest, FullDiskIsStickyAndNeverAcknowledged) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string mount_dir = FreshTestDir("fulldisk");
  TmpfsMount tmpfs(mount_dir);
  ASSERT_TRUE(tmpfs.ok()) << "mounting a tmpfs needs root (tests run as root)";
  std::string data_dir = mount_dir + "/agent";
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();

  walrep::v1::StartReplicaRequest req;
  req.set_conninfo((*pg)->ReplConnInfo("application_name=walrep_full"));
  req.set_slot_name("walrep_full");
  req.set_create_slot(true);
  req.mutable_status_interval()->set_seconds(1);
  walrep::v1::StartReplicaResponse resp;
  auto ctx = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->StartReplica(ctx.get(), req, &resp).ok());
  // More than one segment of WAL: the second segment cannot be created.
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad "
                          "FROM generate_series(1, 150000) g").ok());
  ASSERT_TRUE((*pg)->Psql("SELECT pg_switch_wal()").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_FAILED;
  }, absl::Seconds(30)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->last_error().find("no space left on device"), std::string::npos) << p->last_error();

  auto health = grpc::health::v1::Health::NewStub((*agent)->channel());
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(WaitFor([&] {
    auto hctx = (*agent)->Context();
    return health->Check(hctx.get(), hreq, &hresp).ok() &&
           hresp.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }, absl::Seconds(5)));
  auto metrics = (*agent)->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("walrep_healthy 0"), std::string::npos);
  EXPECT_NE(metrics->find("walrep_stream_state{state=\"failed\"} 1"), std::string::npos);

  // Sticky: it stays failed, and the flush position never moves again.
  uint64_t flush = p->flush_lsn();
  absl::SleepFor(absl::Seconds(2));
  auto later = GetProgress(**agent);
  EXPECT_EQ(later->stream_state(), walrep::v1::STREAM_STATE_FAILED);
  EXPECT_EQ(later->flush_lsn(), flush);
  // The primary was never told more than what is on disk; the slot kept the rest.
  auto slot = (*pg)->Psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'walrep_full'");
  ASSERT_TRUE(slot.ok());
  auto slot_lsn = Lsn::Parse(*slot);
  ASSERT_TRUE(slot_lsn.ok()) << *slot;
  EXPECT_LE(slot_lsn->value(), flush);
  EXPECT_LT(flush, ServerFlushLsn(**pg)->value());
  // StartReplica refuses, saying what to do, until the agent is restarted.
  auto ctx2 = (*agent)->Context();
  grpc::Status st = (*agent)->stub()->StartReplica(ctx2.get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("restart the agent"), std::string::npos) << st.error_message();
  (*agent)->Kill();
}

}  // namespace
}  // namespace walrep::testing
