// StartReplica with bootstrap and no replication slot, for engine none and engine
// postgres. The base backup's own WAL stream (with its temporary slot) writes the copy's
// WAL; once the backup ends nothing keeps WAL on the primary for this replica, and a
// checkpoint removes every segment before the one the primary writes now — the backup's
// included, since the primary ends a backup with a segment switch. The replica's stream
// must continue from the WAL the bootstrap made durable, never needing those segments.
//
// The window between the end of the backup and the stream's START_REPLICATION is held
// open deterministically: every connection goes through a proxy that holds new
// connections; those of the backup are let through, the stream's first one is held
// while the primary checkpoints.
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/engine_e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/tcp_proxy.h"

namespace walrep::testing {
namespace {

using walrep::v1::Progress;

// The End-LSN of the copy's backup_manifest.
absl::StatusOr<Lsn> BackupEnd(const std::string& pgdata) {
  auto line = RunShell("grep -o '\"End-LSN\": \"[0-9A-F/]*\"' " +
                       ShellQuote(pgdata + "/backup_manifest") + " | tail -n 1");
  if (!line.ok()) return line.status();
  std::string text = line->substr(line->find(": \"") + 3);
  return Lsn::Parse(text.substr(0, text.find('"')));
}

void SlotlessBootstrapSurvivesACheckpointBeforeTheStream(bool engine_postgres) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql("CREATE TABLE t AS SELECT generate_series(1, 10000) AS i").ok());
  auto proxy = TcpProxy::Start("127.0.0.1", (*pg)->port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  (*proxy)->SetHoldNew(true);

  const int pg_port = PickFreePort();
  const std::string data_dir =
      engine_postgres ? EngineDataDir("bootstrap-resume") : FreshTestDir("bootstrap-resume");
  std::unique_ptr<Standby> standby;
  AgentProcess::Options options{.data_dir = data_dir};
  if (engine_postgres) {
    standby = std::make_unique<Standby>(data_dir, pg_port);
    options.extra_flags = EngineFlags(pg_port);
  }
  auto agent = AgentProcess::Start(options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", (*proxy)->port(), " user=", PgPrimary::kReplUser,
                   " password=", PgPrimary::kReplPassword,
                   " sslmode=disable application_name=walrep_resume");
  // The call waits for connections the proxy holds: it runs beside the test.
  grpc::Status started;
  std::thread call([&] {
    started = StartReplica(**agent, conninfo, "", nullptr,
                           [](walrep::v1::StartReplicaRequest* r) { r->set_bootstrap(true); });
  });
  struct Joiner {
    std::thread& t;
    TcpProxy& proxy;
    ~Joiner() {
      proxy.SetHoldNew(false);
      if (t.joinable()) t.join();
    }
  } joiner{call, **proxy};

  // Let every connection through until the stream's own: the first made once the
  // agent's stream is CONNECTING (it says so before it connects; the bootstrap's
  // connections are made while it is BOOTSTRAPPING, the dialect probe before either).
  Progress at_start;
  bool stream_held = false;
  for (int i = 0; i < 20 && !stream_held; ++i) {
    ASSERT_TRUE(WaitFor([&] { return (*proxy)->held() > 0; }, absl::Seconds(120)))
        << GetProgress(**agent)->DebugString() << (*agent)->ReadLog();
    auto p = GetProgress(**agent);
    ASSERT_TRUE(p.ok()) << p.status();
    if (p->stream_state() == walrep::v1::STREAM_STATE_CONNECTING) {
      at_start = *p;
      stream_held = true;
    } else {
      (*proxy)->ReleaseHeld();
    }
  }
  ASSERT_TRUE(stream_held) << (*agent)->ReadLog();

  // The WAL store already holds the copy's WAL up to (at least) the backup's end: the
  // stream will ask for WAL after it, not for the backup's start segment again.
  auto backup_end = BackupEnd(data_dir + "/pgdata");
  ASSERT_TRUE(backup_end.ok()) << backup_end.status();
  EXPECT_GE(at_start.flush_lsn(), backup_end->value())
      << "flush " << Lsn(at_start.flush_lsn()).ToString() << ", backup end "
      << backup_end->ToString();

  // The backup's temporary slot goes with its walsender; then a checkpoint removes the
  // segment holding the backup's end (and everything before it).
  ASSERT_TRUE(WaitFor([&] {
    auto n = (*pg)->Psql("SELECT count(*) FROM pg_replication_slots");
    return n.ok() && absl::StripAsciiWhitespace(*n) == "0";
  }, absl::Seconds(30)));
  ASSERT_TRUE((*pg)->Psql("CHECKPOINT").ok());
  auto kept = (*pg)->Psql(absl::StrCat("SELECT count(*) FROM pg_ls_waldir() WHERE name = "
                                       "pg_walfile_name('", backup_end->ToString(), "')"));
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(absl::StripAsciiWhitespace(*kept), "0") << "the window this test is about is not open";

  (*proxy)->SetHoldNew(false);
  ASSERT_TRUE((*pg)->Psql("INSERT INTO t SELECT generate_series(1, 5000)").ok());
  auto target = ServerFlushLsn(**pg);
  ASSERT_TRUE(target.ok()) << target.status();
  Progress last;
  ASSERT_TRUE(WaitFor([&] {
    auto p = GetProgress(**agent);
    if (!p.ok()) return false;
    last = *p;
    return p->stream_state() == walrep::v1::STREAM_STATE_FAILED ||
           (p->stream_state() == walrep::v1::STREAM_STATE_STREAMING &&
            p->flush_lsn() >= target->value());
  }, absl::Seconds(60))) << last.DebugString() << (*agent)->ReadLog();
  EXPECT_EQ(last.stream_state(), walrep::v1::STREAM_STATE_STREAMING)
      << last.DebugString() << (*agent)->ReadLog();
  EXPECT_EQ(last.failure_reason(), walrep::v1::FAILURE_REASON_UNSPECIFIED) << last.last_error();
  EXPECT_GE(last.flush_lsn(), target->value());
  EXPECT_EQ(last.metrics().sessions_failed(), 0u) << last.last_error();

  if (engine_postgres) {
    // The standby replays the copy's WAL and then what the stream appended.
    ASSERT_TRUE(Replayed(**agent, **pg, absl::Seconds(60))) << (*agent)->ReadLog();
    EXPECT_EQ(*standby->Psql("SELECT count(*) FROM t"), "15000");
  } else {
    // The archive is one chain from the backup's start: the copy's WAL, then the stream's.
    WalComparison cmp = CompareWithServerWal(data_dir + "/wal", (*pg)->data_dir() + "/pg_wal",
                                             Lsn(last.flush_lsn()));
    EXPECT_EQ(cmp.mismatch, "");
    EXPECT_GE(cmp.complete_identical + cmp.partial_checked, 1);
  }
  call.join();
  EXPECT_TRUE(started.ok()) << started.error_message();
}

TEST(BootstrapResumeE2eTest, EngineNoneStreamsOnFromTheBackupsWal) {
  SlotlessBootstrapSurvivesACheckpointBeforeTheStream(/*engine_postgres=*/false);
}

TEST(BootstrapResumeE2eTest, EnginePostgresStreamsOnFromTheBackupsWal) {
  SlotlessBootstrapSurvivesACheckpointBeforeTheStream(/*engine_postgres=*/true);
}

}  // namespace
}  // namespace walrep::testing
