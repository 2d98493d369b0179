#include "engine/postgres_conf.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/durable_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kCopiedConf[] =
    "# the primary's settings\n"
    "port = 6543\n"
    "listen_addresses = '*'\n"
    "shared_buffers = 128MB\n"
    "primary_conninfo = 'host=elsewhere'";  // no trailing newline on purpose
constexpr char kCopiedHba[] =
    "local all postgres peer\n"
    "host replication replicator 10.0.0.0/8 scram-sha-256\n";

class ConfigureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/pgdata.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    pgdata_ = tmpl;
    Write("PG_VERSION", "15\n");
    Write("postgresql.conf", kCopiedConf);
    Write("pg_hba.conf", kCopiedHba);
    options_.pgdata = pgdata_;
    options_.port = 15432;
    options_.listen = "127.0.0.1";
    options_.socket_dir = pgdata_ + "/sock";
  }
  void Write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(WriteFileDurably(pgdata_ + "/" + name, text, *OwnerOf(pgdata_)).ok());
  }
  std::string Read(const std::string& name) {
    absl::StatusOr<std::string> s = ReadWholeFile(pgdata_ + "/" + name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : "";
  }
  int Mode(const std::string& path) {
    struct stat st;
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  bool Exists(const std::string& name) {
    struct stat st;
    return stat((pgdata_ + "/" + name).c_str(), &st) == 0;
  }

  std::string pgdata_;
  PostgresOptions options_;
};

TEST_F(ConfigureTest, WritesOverrideFileWithWalrepsSettings) {
  ASSERT_TRUE(ConfigurePgdata(options_, /*standby=*/true).ok());
  const std::string conf = Read("walrep.conf");
  EXPECT_THAT(conf, HasSubstr("\nport = 15432\n"));
  EXPECT_THAT(conf, HasSubstr("\nlisten_addresses = '127.0.0.1'\n"));
  EXPECT_THAT(conf, HasSubstr(absl::StrCat("\nunix_socket_directories = '", pgdata_, "/sock'\n")));
  EXPECT_THAT(conf, HasSubstr(absl::StrCat("\nhba_file = '", pgdata_, "/walrep_hba.conf'\n")));
  EXPECT_THAT(conf, HasSubstr("\nhot_standby = on\n"));
  EXPECT_THAT(conf, HasSubstr("\nprimary_conninfo = ''\n"));
  EXPECT_THAT(conf, HasSubstr("\nrestore_command = ''\n"));
  EXPECT_THAT(conf, HasSubstr("\nrecovery_target_timeline = 'latest'\n"));
  EXPECT_THAT(conf, HasSubstr("\nwal_retrieve_retry_interval = '20ms'\n"));
  EXPECT_THAT(conf, HasSubstr("\nlogging_collector = off\n"));
  EXPECT_TRUE(Exists("standby.signal"));
  EXPECT_EQ(Mode(pgdata_ + "/walrep.conf"), 0600);
  EXPECT_EQ(Mode(pgdata_ + "/walrep_hba.conf"), 0600);
  EXPECT_EQ(Mode(pgdata_ + "/standby.signal"), 0600);
  EXPECT_EQ(Mode(pgdata_ + "/sock"), 0700);
  EXPECT_FALSE(Exists("walrep.conf.walrep-tmp"));
}

TEST_F(ConfigureTest, HbaFileTrustsTheSocketThenKeepsTheCopiedLines) {
  ASSERT_TRUE(ConfigurePgdata(options_, true).ok());
  const std::string hba = Read("walrep_hba.conf");
  size_t trust = hba.find("\nlocal all all trust\n");
  size_t copied = hba.find(kCopiedHba);
  ASSERT_NE(trust, std::string::npos) << hba;
  ASSERT_NE(copied, std::string::npos) << hba;
  EXPECT_LT(trust, copied);
  EXPECT_EQ(Read("pg_hba.conf"), kCopiedHba);  // the copy itself is untouched
}

TEST_F(ConfigureTest, IncludeLineAppendedOnceAfterTheCopiedSettings) {
  ASSERT_TRUE(ConfigurePgdata(options_, true).ok());
  const std::string once = Read("postgresql.conf");
  // The copied settings byte for byte, then one line: walrep's values come last and win.
  EXPECT_EQ(once, absl::StrCat(kCopiedConf, "\n", kIncludeLine, "\n"));
  ASSERT_TRUE(ConfigurePgdata(options_, true).ok());
  ASSERT_TRUE(ConfigurePgdata(options_, false).ok());
  EXPECT_EQ(Read("postgresql.conf"), once);
}

TEST_F(ConfigureTest, NotStandbyRemovesTheSignalFile) {
  ASSERT_TRUE(ConfigurePgdata(options_, true).ok());
  ASSERT_TRUE(Exists("standby.signal"));
  ASSERT_TRUE(ConfigurePgdata(options_, false).ok());
  EXPECT_FALSE(Exists("standby.signal"));
  EXPECT_TRUE(ConfigurePgdata(options_, false).ok());  // absent already: fine
}

TEST_F(ConfigureTest, RefusesADirectoryWithoutPgVersion) {
  options_.pgdata = pgdata_ + "/sock-parent-missing";
  absl::Status s = ConfigurePgdata(options_, true);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  options_.pgdata = "relative/dir";
  EXPECT_TRUE(absl::IsInvalidArgument(ConfigurePgdata(options_, true)));
}

TEST(WithIncludeLineTest, PresentInAnySpacingIsLeftAlone) {
  EXPECT_EQ(WithIncludeLine("a = 1\ninclude_if_exists='walrep.conf'  # walrep\n"), std::nullopt);
  EXPECT_EQ(WithIncludeLine("  include_if_exists = 'walrep.conf'\nb = 2\n"), std::nullopt);
}

TEST(WithIncludeLineTest, CommentedOutOrEmptyGetsTheLine) {
  EXPECT_EQ(WithIncludeLine("#include_if_exists = 'walrep.conf'\n"),
            "#include_if_exists = 'walrep.conf'\ninclude_if_exists = 'walrep.conf'\n");
  EXPECT_EQ(WithIncludeLine(""), "include_if_exists = 'walrep.conf'\n");
}

TEST(KeysOverriddenByAutoConfTest, FindsWalrepsKeysOnly) {
  EXPECT_THAT(KeysOverriddenByAutoConf("# Do not edit this file manually!\n"
                                       "primary_conninfo = 'host=old user=replicator'\n"
                                       "work_mem = '64MB'\n"
                                       "  Port=5433\n"
                                       "#restore_command = 'cp x y'\n"),
              ::testing::ElementsAre("primary_conninfo", "port"));
  EXPECT_TRUE(KeysOverriddenByAutoConf("").empty());
}

TEST(QuoteConfValueTest, DoublesQuotes) { EXPECT_EQ(QuoteConfValue("it's"), "'it''s'"); }

}  // namespace
}  // namespace walrep
