// Control-plane semantics over gRPC against a real primary: StartReplica is idempotent
// and re-points on a different conninfo (a re-point that fails validation changes
// nothing), StopReplica stops and is remembered across a
// restart, WatchProgress pushes changes no more often than asked.
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

grpc::Status Start(AgentProcess& agent, const std::string& conninfo,
                   const std::function<void(walrep::v1::StartReplicaRequest*)>& edit = nullptr) {
  walrep::v1::StartReplicaRequest req;
  req.set_conninfo(conninfo);
  if (edit) edit(&req);
  req.mutable_status_interval()->set_seconds(1);
  walrep::v1::StartReplicaResponse resp;
  auto ctx = agent.Context(absl::Seconds(20));
  return agent.stub()->StartReplica(ctx.get(), req, &resp);
}

TEST(ControlE2eTest, StartIsIdempotentRepointsAndStopIsRemembered) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("control");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string a = (*pg)->ReplConnInfo("application_name=first");
  ASSERT_TRUE(Start(**agent, a).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
  }, absl::Seconds(10)));
  auto before = GetProgress(**agent);
  ASSERT_TRUE(before.ok());

  // The same request again: nothing restarts.
  ASSERT_TRUE(Start(**agent, a).ok());
  auto same = GetProgress(**agent);
  EXPECT_EQ(same->metrics().sessions_started(), before->metrics().sessions_started());
  EXPECT_EQ(*(*pg)->Psql("SELECT application_name FROM pg_stat_replication"), "first");

  // A re-point that fails validation changes nothing: the stream, its walsender and
  // the stored configuration stay as they were.
  const std::string stored_before = *RunShell("cat " + ShellQuote(data_dir + "/replication/stream.json"));
  for (const std::string& bad : {a + " port=abc", a + " sslmode=bogus", a + " no_such_key=1"}) {
    grpc::Status st = Start(**agent, bad);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
  // What only engine postgres can do is refused by name with engine none, with nothing
  // changed either.
  struct EngineOnly {
    const char* field;
    std::function<void(walrep::v1::StartReplicaRequest*)> set;
  } engine_only[] = {
      {"hot_standby_feedback", [](auto* r) { r->set_hot_standby_feedback(true); }},
      {"rewind_on_divergence", [](auto* r) { r->set_rewind_on_divergence(true); }},
  };
  for (const EngineOnly& e : engine_only) {
    grpc::Status st = Start(**agent, a, e.set);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << e.field;
    EXPECT_NE(st.error_message().find(e.field), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("--engine=postgres"), std::string::npos)
        << st.error_message();
  }
  EXPECT_EQ(*RunShell("cat " + ShellQuote(data_dir + "/replication/stream.json")), stored_before);
  auto after_bad = GetProgress(**agent);
  EXPECT_EQ(after_bad->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
  EXPECT_EQ(after_bad->metrics().sessions_started(), before->metrics().sessions_started());
  EXPECT_EQ(*(*pg)->Psql("SELECT application_name FROM pg_stat_replication"), "first");

  // A different conninfo re-points the stream.
  ASSERT_TRUE(Start(**agent, (*pg)->ReplConnInfo("application_name=second")).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto n = (*pg)->Psql("SELECT string_agg(application_name, ',') FROM pg_stat_replication");
    return n.ok() && *n == "second";
  }, absl::Seconds(10)));
  auto repointed = GetProgress(**agent);
  EXPECT_GT(repointed->metrics().sessions_started(), before->metrics().sessions_started());
  EXPECT_NE(repointed->primary_conninfo().find("second"), std::string::npos);

  // Stop: the walsender goes away, the role stays, and a restart does not resume.
  walrep::v1::StopReplicaResponse stopped;
  auto ctx = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->StopReplica(ctx.get(), {}, &stopped).ok());
  EXPECT_EQ(stopped.progress().stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  EXPECT_EQ(stopped.progress().role(), walrep::v1::ROLE_REPLICA);
  EXPECT_TRUE(WaitFor([&] {
    auto n = (*pg)->Psql("SELECT count(*) FROM pg_stat_replication");
    return n.ok() && *n == "0";
  }, absl::Seconds(10)));
  agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  absl::SleepFor(absl::Milliseconds(500));
  auto p = GetProgress(**agent);
  EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  EXPECT_EQ(p->role(), walrep::v1::ROLE_REPLICA);
  EXPECT_EQ(*(*pg)->Psql("SELECT count(*) FROM pg_stat_replication"), "0");
}

TEST(ControlE2eTest, StreamsOverVerifiedTlsWithChannelBinding) {
  PgPrimaryOptions options;
  options.tls = true;
  options.tls_only = true;
  auto pg = PgPrimary::Start(options);
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string data_dir = FreshTestDir("tls");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  std::string conninfo = absl::StrCat(
      "postgresql://replicator:", PgPrimary::kReplPassword, "@localhost:", (*pg)->port(),
      "/?sslmode=verify-full&channel_binding=require&application_name=walrep_tls&sslrootcert=",
      (*pg)->ca_cert_path());
  ASSERT_TRUE(Start(**agent, conninfo).ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 20000) AS x").ok());
  Lsn target = *ServerFlushLsn(**pg);
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    return p.ok() && p->flush_lsn() >= target.value();
  }, absl::Seconds(20))) << GetProgress(**agent)->last_error();
  // The walsender's connection is encrypted, and the password stays out of the progress.
  auto ssl = (*pg)->Psql(
      "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
      "WHERE r.application_name = 'walrep_tls'");
  ASSERT_TRUE(ssl.ok()) << ssl.status();
  EXPECT_EQ(*ssl, "t");
  auto p = GetProgress(**agent);
  EXPECT_EQ(p->primary_conninfo().find(PgPrimary::kReplPassword), std::string::npos);
  EXPECT_NE(p->primary_conninfo().find("verify-full"), std::string::npos);
  WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                           Lsn(p->flush_lsn()));
  EXPECT_EQ(cmp.mismatch, "");
  EXPECT_EQ(cmp.partial_checked, 1);
}

TEST(ControlE2eTest, WatchProgressPushesChangesAtMostOncePerInterval) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("watch")});
  ASSERT_TRUE(agent.ok()) << agent.status();

  walrep::v1::WatchProgressRequest req;
  req.mutable_min_interval()->set_nanos(300 * 1000 * 1000);
  auto ctx = (*agent)->Context(absl::Seconds(30));
  auto reader = (*agent)->stub()->WatchProgress(ctx.get(), req);
  walrep::v1::WatchProgressResponse msg;
  ASSERT_TRUE(reader->Read(&msg));  // the current state at once
  EXPECT_EQ(msg.progress().stream_state(), walrep::v1::STREAM_STATE_STOPPED);

  ASSERT_TRUE(Start(**agent, (*pg)->ReplConnInfo()).ok());
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE w AS SELECT generate_series(1, 20000) AS x").ok());
  std::vector<absl::Time> arrivals;
  bool saw_streaming = false;
  uint64_t max_flush = 0;
  absl::Time until = absl::Now() + absl::Seconds(4);
  while (absl::Now() < until && reader->Read(&msg)) {
    arrivals.push_back(absl::Now());
    saw_streaming |= msg.progress().stream_state() == walrep::v1::STREAM_STATE_STREAMING;
    max_flush = std::max<uint64_t>(max_flush, msg.progress().flush_lsn());
  }
  ctx->TryCancel();
  EXPECT_TRUE(saw_streaming);
  EXPECT_GT(max_flush, 0u);
  ASSERT_GE(arrivals.size(), 2u);
  for (size_t i = 1; i < arrivals.size(); ++i) {
    EXPECT_GE(arrivals[i] - arrivals[i - 1], absl::Milliseconds(250)) << "message " << i;
  }
}

}  // namespace
}  // namespace walrep::testing
