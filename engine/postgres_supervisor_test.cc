// What PostgresSupervisor does without a server: its conninfo, refusals, no-op stop.
// Running it against real PostgreSQL: tests/postgres_supervisor_test.cc.
#include "engine/postgres_supervisor.h"

#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

PostgresOptions Options() {
  PostgresOptions o;
  o.bindir = "/usr/lib/postgresql/15/bin";
  o.pgdata = absl::StrCat(getenv("TEST_TMPDIR"), "/no-server-here");
  o.port = 6000;
  o.socket_dir = "/run/walrep/sock";
  o.local_user = "walrep";
  o.os_user = geteuid() == 0 ? "postgres" : "";
  return o;
}

TEST(PostgresSupervisorUnitTest, LocalConnInfo) {
  PostgresOptions o = Options();
  EXPECT_EQ(PostgresSupervisor(o).LocalConnInfo(),
            "host=/run/walrep/sock port=6000 user=walrep dbname=postgres sslmode=disable");
  o.socket_dir = "/data dir/it's";
  EXPECT_EQ(PostgresSupervisor(o).LocalConnInfo(),
            "host='/data dir/it\\'s' port=6000 user=walrep dbname=postgres sslmode=disable");
}

TEST(PostgresSupervisorUnitTest, NothingRunning) {
  PostgresSupervisor sup(Options());
  EXPECT_EQ(sup.state(), PostgresState::kStopped);
  EXPECT_EQ(sup.pid(), 0);
  EXPECT_EQ(sup.restarts(), 0u);
  EXPECT_TRUE(absl::IsFailedPrecondition(sup.Promote(absl::Seconds(1))));
  EXPECT_TRUE(sup.Stop(absl::Seconds(1)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(sup.Configure(true)));  // no PG_VERSION there
  EXPECT_STREQ(PostgresStateName(PostgresState::kRecovering), "RECOVERING");
}

}  // namespace
}  // namespace walrep
