// PostgresSupervisor against real PostgreSQL 15 (run as root, the server as `postgres`):
// a standby made with pg_basebackup comes up in recovery and refuses writes, is restarted
// after a kill -9, is adopted by a new supervisor, is promoted to a writable primary and
// stopped; its ERROR lines reach walrep's "postgres" logger.
#include "engine/postgres_supervisor.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/capture_sink.h"
#include "tests/pg_fixture.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using testing::PgPrimary;
using testing::RunShell;
using testing::ShellQuote;

bool Eventually(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

class PostgresSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto primary = PgPrimary::Start();
    ASSERT_TRUE(primary.ok()) << primary.status();
    primary_ = *std::move(primary);
    ASSERT_TRUE(primary_->Psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)").ok());
    const std::string dir = primary_->root_dir() + "/standby";
    options_.bindir = PgPrimary::kBinDir;
    options_.pgdata = dir + "/pgdata";
    options_.port = testing::PickFreePort();
    options_.listen = "127.0.0.1";
    options_.os_user = "postgres";
    options_.socket_dir = dir + "/sock";
    options_.log_path = dir + "/postgres.log";
    options_.local_user = "postgres";
    ASSERT_TRUE(RunShell(absl::StrCat("runuser -u postgres -- mkdir -p ", ShellQuote(dir))).ok());
    auto copied = primary_->RunTool(
        "pg_basebackup", absl::StrCat("-d ", ShellQuote(primary_->ReplConnInfo()), " -D ",
                                      ShellQuote(options_.pgdata), " -X stream -c fast"));
    ASSERT_TRUE(copied.ok()) << copied.status();
    // As on a primary that was once a standby made with pg_basebackup -R: walrep's standby
    // must not start a walreceiver of its own anyway.
    ASSERT_TRUE(RunShell(absl::StrCat("echo \"primary_conninfo = 'host=192.0.2.1 port=1'\" >> ",
                                      ShellQuote(options_.pgdata + "/postgresql.auto.conf")))
                    .ok());
  }

  void TearDown() override {
    // A server the test left running (a failed assertion) must not outlive the fixture,
    // which removes its directory.
    if (primary_ != nullptr) {
      RunShell(absl::StrCat("runuser -u postgres -- ", PgPrimary::kBinDir,
                            "/pg_ctl stop -m immediate -D ", ShellQuote(options_.pgdata),
                            " >/dev/null 2>&1 || true"))
          .IgnoreError();
    }
  }

  // psql over walrep's private socket, as root (trust on that socket).
  absl::StatusOr<std::string> Sql(const std::string& sql) {
    auto out = RunShell(absl::StrCat(PgPrimary::kBinDir, "/psql -XAtq -h ",
                                     ShellQuote(options_.socket_dir), " -p ", options_.port,
                                     " -U postgres -d postgres -v ON_ERROR_STOP=1",
                                     " -c '\\set VERBOSITY verbose' -c ", ShellQuote(sql)));
    if (!out.ok()) return out.status();
    std::string s = *out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  std::unique_ptr<PgPrimary> primary_;
  PostgresOptions options_;
};

TEST_F(PostgresSupervisorTest, StandbyRestartAdoptPromoteStop) {
  auto sink = std::make_shared<CaptureSink>();
  ModuleLogger("postgres")->sinks().push_back(sink);
  absl::Cleanup unhook = [] { ModuleLogger("postgres")->sinks().pop_back(); };

  auto sup = std::make_unique<PostgresSupervisor>(options_);
  ASSERT_TRUE(sup->Configure(/*standby=*/true).ok());
  absl::Status started = sup->Start(absl::Seconds(60));
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(sup->state(), PostgresState::kRecovering);
  const pid_t first = sup->pid();
  ASSERT_GT(first, 0);
  EXPECT_EQ(sup->LocalConnInfo(),
            absl::StrCat("host=", options_.socket_dir, " port=", options_.port,
                         " user=postgres dbname=postgres sslmode=disable"));

  // In recovery: the base backup's rows are readable, writes are refused by the server.
  EXPECT_EQ(*Sql("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(*Sql("SELECT count(*) FROM t"), "1");
  EXPECT_EQ(*Sql("SHOW primary_conninfo"), "");
  EXPECT_EQ(*Sql("SELECT count(*) FROM pg_stat_wal_receiver"), "0");
  auto insert = Sql("INSERT INTO t VALUES (2)");
  ASSERT_FALSE(insert.ok());
  EXPECT_THAT(insert.status().message(), HasSubstr("25006"));
  // That refusal is an ERROR in the server's log, forwarded to walrep's log.
  EXPECT_TRUE(Eventually(
      [&] { return sink->Saw(spdlog::level::err, "cannot execute INSERT in a read-only"); },
      absl::Seconds(10)));

  // kill -9 of the postmaster: restarted once, back in recovery.
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(
      Eventually([&] { return sup->restarts() == 1 && sup->state() == PostgresState::kRecovering; },
                 absl::Seconds(60)))
      << "restarts " << sup->restarts() << " state " << PostgresStateName(sup->state());
  EXPECT_EQ(sup->crashes(), 1u);
  const pid_t second = sup->pid();
  EXPECT_NE(second, first);
  EXPECT_EQ(*Sql("SELECT pg_is_in_recovery()"), "t");

  // A new supervisor (an agent restart) adopts the running server.
  sup.reset();
  ASSERT_TRUE(Alive(second));
  sup = std::make_unique<PostgresSupervisor>(options_);
  ASSERT_TRUE(sup->Configure(true).ok());
  started = sup->Start(absl::Seconds(60));
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(sup->pid(), second);
  EXPECT_EQ(sup->state(), PostgresState::kRecovering);
  EXPECT_EQ(sup->restarts(), 0u);

  // Promote: out of recovery, writes accepted; promoting again is a no-op.
  absl::Status promoted = sup->Promote(absl::Seconds(60));
  ASSERT_TRUE(promoted.ok()) << promoted;
  EXPECT_EQ(sup->state(), PostgresState::kPrimary);
  EXPECT_EQ(*Sql("SELECT pg_is_in_recovery()"), "f");
  auto wrote = Sql("INSERT INTO t VALUES (3)");
  EXPECT_TRUE(wrote.ok()) << wrote.status();
  EXPECT_EQ(*Sql("SELECT count(*) FROM t"), "2");
  EXPECT_TRUE(sup->Promote(absl::Seconds(5)).ok());

  // Stop: the process is gone, nothing restarts it.
  absl::Status stopped = sup->Stop(absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped;
  EXPECT_EQ(sup->state(), PostgresState::kStopped);
  EXPECT_EQ(sup->pid(), 0);
  EXPECT_FALSE(Alive(second));
  struct stat st;
  EXPECT_NE(stat((options_.pgdata + "/postmaster.pid").c_str(), &st), 0);
  EXPECT_EQ(sup->restarts(), 0u);
}

TEST_F(PostgresSupervisorTest, CrashedWhileRestartsFailThenRecovers) {
  auto sink = std::make_shared<CaptureSink>();
  ModuleLogger("postgres")->sinks().push_back(sink);
  absl::Cleanup unhook = [] { ModuleLogger("postgres")->sinks().pop_back(); };
  PostgresSupervisor sup(options_);
  ASSERT_TRUE(sup.Configure(true).ok());
  absl::Status started = sup.Start(absl::Seconds(60));
  ASSERT_TRUE(started.ok()) << started;
  // A setting the server cannot start with, then a crash: every restart attempt fails.
  ASSERT_TRUE(RunShell(absl::StrCat("echo \"shared_buffers = 'bogus'\" >> ",
                                    ShellQuote(options_.pgdata + "/walrep.conf")))
                  .ok());
  ASSERT_EQ(kill(sup.pid(), SIGKILL), 0);
  // Between two failed attempts the supervisor is CRASHED, with no server.
  ASSERT_TRUE(Eventually(
      [&] {
        return sink->Saw(spdlog::level::err, "contains errors") &&
               sup.state() == PostgresState::kCrashed && sup.pid() == 0;
      },
      absl::Seconds(60)))
      << PostgresStateName(sup.state());
  EXPECT_EQ(sup.restarts(), 0u);
  EXPECT_EQ(sup.crashes(), 1u);
  // Configure rewrites walrep.conf; the next attempt (after the backoff) succeeds.
  ASSERT_TRUE(sup.Configure(true).ok());
  ASSERT_TRUE(
      Eventually([&] { return sup.restarts() == 1 && sup.state() == PostgresState::kRecovering; },
                 absl::Seconds(60)))
      << PostgresStateName(sup.state());
  EXPECT_EQ(*Sql("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(sup.crashes(), 1u);
  EXPECT_TRUE(sup.Stop(absl::Seconds(30)).ok());
}

TEST_F(PostgresSupervisorTest, StopWithoutStartStopsTheServerRunningThere) {
  pid_t pid;
  {
    PostgresSupervisor sup(options_);
    ASSERT_TRUE(sup.Configure(true).ok());
    absl::Status started = sup.Start(absl::Seconds(60));
    ASSERT_TRUE(started.ok()) << started;
    pid = sup.pid();
  }
  ASSERT_TRUE(Alive(pid));
  PostgresSupervisor other(options_);
  absl::Status stopped = other.Stop(absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped;
  EXPECT_FALSE(Alive(pid));
  EXPECT_TRUE(other.Stop(absl::Seconds(1)).ok());  // nothing left to stop
}

TEST_F(PostgresSupervisorTest, StartFailureCarriesTheServerLog) {
  // Another server holds the port: this one fails, and says why.
  options_.port = primary_->port();
  options_.listen = primary_->host();
  PostgresSupervisor sup(options_);
  ASSERT_TRUE(sup.Configure(true).ok());
  absl::Status s = sup.Start(absl::Seconds(60));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("could not"));  // "could not bind ..." / "create ... socket"
  EXPECT_EQ(sup.state(), PostgresState::kStopped);
  EXPECT_EQ(sup.pid(), 0);
}

TEST(PostgresSupervisorRootTest, RootWithoutOsUserIsRefused) {
  ASSERT_EQ(geteuid(), 0u) << "this test runs as root, like Bazel's sandbox here";
  PostgresOptions o;
  o.bindir = PgPrimary::kBinDir;
  o.pgdata = "/nonexistent";
  PostgresSupervisor sup(o);
  absl::Status s = sup.Start(absl::Seconds(1));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("--pg_os_user"));
}

TEST(PostgresVersionTest, InstalledServerIsFifteen) {
  absl::StatusOr<int> v = PostgresMajorVersion(PgPrimary::kBinDir);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 15);
  EXPECT_FALSE(PostgresMajorVersion("/nonexistent/bin").ok());
  EXPECT_FALSE(DefaultPostgresBindir().empty());
}

}  // namespace
}  // namespace walrep
