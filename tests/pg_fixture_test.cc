// The fixture itself: a primary comes up configured for replication, accepts the
// replication role over TCP with the configured method, and disappears afterwards.
#include "tests/pg_fixture.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace walrep::testing {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(PgFixtureTest, PrimaryIsConfiguredForReplicationAndCleanedUp) {
  std::string root;
  {
    auto pg = PgPrimary::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    root = (*pg)->root_dir();
    EXPECT_EQ(*(*pg)->Psql("SHOW wal_level"), "replica");
    EXPECT_EQ(*(*pg)->Psql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"), "t");
    EXPECT_EQ(*(*pg)->Psql("SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'replicator'"),
              "SCRAM-SHA-256");
    // The replication role connects over TCP with its password (psql as the oracle here).
    auto out = (*pg)->RunTool(
        "psql", absl::StrCat("-XAt -d ",
                             ShellQuote(absl::StrCat("host=127.0.0.1 port=", (*pg)->port(),
                                                     " user=replicator dbname=postgres password=",
                                                     PgPrimary::kReplPassword)),
                             " -c 'SELECT 1'"));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, "1\n");
    // A wrong password is refused.
    auto bad = (*pg)->RunTool(
        "psql", absl::StrCat("-XAt -d ",
                             ShellQuote(absl::StrCat("host=127.0.0.1 port=", (*pg)->port(),
                                                     " user=replicator dbname=postgres password=nope")),
                             " -c 'SELECT 1'"));
    EXPECT_FALSE(bad.ok());
    EXPECT_TRUE(Exists(root));
  }
  EXPECT_FALSE(Exists(root));
}

TEST(PgFixtureTest, TlsAndMd5Variants) {
  PgPrimaryOptions options;
  options.tls = true;
  options.tls_only = true;
  options.auth_method = "md5";
  options.password_encryption = "md5";
  auto pg = PgPrimary::Start(options);
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(*(*pg)->Psql("SHOW ssl"), "on");
  EXPECT_TRUE(Exists((*pg)->ca_cert_path()));
  EXPECT_EQ(*(*pg)->Psql("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'replicator'"),
            "md5");
  auto out = (*pg)->RunTool(
      "psql", absl::StrCat("-XAt -d ",
                           ShellQuote(absl::StrCat("host=localhost port=", (*pg)->port(),
                                                   " user=replicator dbname=postgres sslmode=verify-full",
                                                   " sslrootcert=", (*pg)->ca_cert_path(),
                                                   " password=", PgPrimary::kReplPassword)),
                           " -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "t\n");
}

}  // namespace
}  // namespace walrep::testing
