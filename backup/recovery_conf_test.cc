#include "backup/recovery_conf.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backup/tar_writer.h"
#include "gtest/gtest.h"
#include "wire/tar_reader.h"

namespace walrep {
namespace {

std::string Tmp() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, absl::string_view data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string Member(const std::string& name, const std::string& content) {
  TarFileFields f;
  f.name = name;
  f.size = content.size();
  f.mode = 0600;
  f.uid = 1234;
  f.gid = 5678;
  f.mtime = 1700000000;
  return *TarFileHeader(f) + content + TarPadding(content.size());
}

struct Collected : TarSink {
  std::vector<std::pair<std::string, std::string>> files;
  absl::Status OnMember(const TarMember& m) override {
    files.emplace_back(m.name, "");
    return absl::OkStatus();
  }
  absl::Status OnData(absl::string_view b) override {
    files.back().second.append(b.data(), b.size());
    return absl::OkStatus();
  }
  absl::Status OnMemberEnd() override { return absl::OkStatus(); }
};

TEST(RecoveryConfLinesTest, QuotesTwiceAndLeavesOutWhatTheWalreceiverSets) {
  auto ci = ConnInfo::Parse(
      "host=db1 port=5433 user=rep dbname=postgres replication=true "
      "password='it\\'s a \\\\ secret' application_name=standby1");
  ASSERT_TRUE(ci.ok()) << ci.status();
  std::string lines = RecoveryConfLines(*ci, "");
  // conninfo: password='it\'s a \\ secret'; the file doubles quotes and backslashes.
  EXPECT_NE(lines.find(R"(password=''it\\''s a \\\\ secret'')"), std::string::npos)
      << lines;
  EXPECT_NE(lines.find("host=''db1''"), std::string::npos) << lines;
  EXPECT_NE(lines.find("port=''5433''"), std::string::npos) << lines;
  EXPECT_NE(lines.find("application_name=''standby1''"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("dbname"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("replication"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("primary_slot_name"), std::string::npos) << lines;
  EXPECT_EQ(lines.rfind("primary_conninfo = '", 0), 0u) << lines;
  EXPECT_EQ(lines.back(), '\n');
  EXPECT_NE(RecoveryConfLines(*ci, "slot_1").find("primary_slot_name = 'slot_1'\n"),
            std::string::npos);
}

TEST(TarRecoveryInjectorTest, ReplacesAutoConfAddsStandbySignalAndKeepsTheRestByteForByte) {
  std::string base_pg = Member("PG_VERSION", "15\n");
  std::string big = Member("base/1/1259", std::string(20000, 'x'));
  std::string autoconf = Member("postgresql.auto.conf", "work_mem = '8MB'\n");
  std::string tail = Member("global/pg_control", std::string(8192, 'c'));
  for (bool trailer : {true, false}) {  // 15+ end the archive; 12-14 do not
    std::string in = base_pg + autoconf + big + tail + (trailer ? TarEndOfArchive() : "");
    for (size_t piece : {size_t{1}, size_t{511}, size_t{100000}}) {
      std::string out;
      TarRecoveryInjector inj("primary_conninfo = 'host=p'\n", 1700000001,
                              [&](absl::string_view b) {
                                out.append(b.data(), b.size());
                                return absl::OkStatus();
                              });
      for (size_t i = 0; i < in.size(); i += piece) {
        ASSERT_TRUE(inj.Feed(absl::string_view(in).substr(i, piece)).ok());
      }
      ASSERT_TRUE(inj.Finish().ok());
      // Untouched members are the server's bytes.
      EXPECT_EQ(out.substr(0, base_pg.size() + big.size() + tail.size()), base_pg + big + tail);
      TarReader reader;
      Collected c;
      ASSERT_TRUE(reader.Feed(out, &c).ok());
      ASSERT_TRUE(reader.Finish().ok());
      EXPECT_TRUE(reader.saw_end_marker());
      ASSERT_EQ(c.files.size(), 5u);
      EXPECT_EQ(c.files[3].first, "postgresql.auto.conf");
      EXPECT_EQ(c.files[3].second, "work_mem = '8MB'\nprimary_conninfo = 'host=p'\n");
      EXPECT_EQ(c.files[4].first, "standby.signal");
      EXPECT_EQ(c.files[4].second, "");
    }
  }
}

TEST(TarRecoveryInjectorTest, GnuTarExtractsTheResult) {
  std::string in = Member("PG_VERSION", "15\n") + Member("postgresql.auto.conf", "a = 1") +
                   TarEndOfArchive();
  std::string out;
  TarRecoveryInjector inj("primary_conninfo = 'host=p'\n", 1700000001, [&](absl::string_view b) {
    out.append(b.data(), b.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(inj.Feed(in).ok());
  ASSERT_TRUE(inj.Finish().ok());
  std::string dir = Tmp() + "/inject_extract";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  Spit(dir + ".tar", out);
  ASSERT_EQ(std::system(("tar -xf " + dir + ".tar -C " + dir).c_str()), 0);
  EXPECT_EQ(Slurp(dir + "/postgresql.auto.conf"), "a = 1\nprimary_conninfo = 'host=p'\n");
  struct stat st;
  ASSERT_EQ(stat((dir + "/standby.signal").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(Slurp(dir + "/PG_VERSION"), "15\n");
}

TEST(TarRecoveryInjectorTest, TruncatedArchiveAndPaxHeadersAreRefused) {
  std::string in = Member("base/1/1259", std::string(2000, 'x'));
  TarRecoveryInjector inj("x\n", 0, [](absl::string_view) { return absl::OkStatus(); });
  ASSERT_TRUE(inj.Feed(absl::string_view(in).substr(0, 1000)).ok());
  EXPECT_EQ(inj.Finish().code(), absl::StatusCode::kDataLoss);

  std::string pax = Member("pax", "17 path=somename\n");
  pax[156] = 'x';
  TarRecoveryInjector inj2("x\n", 0, [](absl::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(inj2.Feed(pax).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WriteRecoveryConfTest, AppendsToAutoConfAndCreatesStandbySignal0600) {
  std::string dir = Tmp() + "/plain_rc";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  Spit(dir + "/postgresql.auto.conf", "# Do not edit this file manually!\nwork_mem = '8MB'");
  ASSERT_TRUE(WriteRecoveryConf(dir, "primary_conninfo = 'host=p'\n").ok());
  EXPECT_EQ(Slurp(dir + "/postgresql.auto.conf"),
            "# Do not edit this file manually!\nwork_mem = '8MB'\nprimary_conninfo = 'host=p'\n");
  struct stat st;
  ASSERT_EQ(stat((dir + "/postgresql.auto.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/standby.signal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 0);
}

TEST(WriteRecoveryConfTest, NeverWritesThroughASymlink) {
  std::string dir = Tmp() + "/plain_rc_link";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  Spit(dir + "/elsewhere", "keep");
  ASSERT_EQ(symlink((dir + "/elsewhere").c_str(), (dir + "/postgresql.auto.conf").c_str()), 0);
  EXPECT_FALSE(WriteRecoveryConf(dir, "primary_conninfo = 'host=p'\n").ok());
  EXPECT_EQ(Slurp(dir + "/elsewhere"), "keep");
}

}  // namespace
}  // namespace walrep
