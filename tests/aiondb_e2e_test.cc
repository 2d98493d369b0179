// End-to-end tests of the aiondb dialect through the daemon's gRPC API, against the fake
// aiondb primary (fake_aiondb_primary.h): bootstrap from aiondb's BASE_BACKUP and
// streaming across a reconnect, resume after kill -9, AUTO detection, and the hostile
// primaries. The stored WAL files are read back and compared with what was sent.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aiondb/session.h"
#include "aiondb/wal_entry.h"
#include "aiondb/wal_file.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/fake_aiondb_primary.h"

namespace walrep::testing {
namespace {

using Fake = FakeAiondbPrimary;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The entries stored in <data_dir>/wal, in file order, each as its bytes; the headers'
// modes in `modes`.
std::vector<std::string> StoredEntries(const std::string& data_dir,
                                       std::vector<aiondb::FileHeader>* headers = nullptr) {
  std::vector<std::string> names;
  if (DIR* d = opendir((data_dir + "/wal").c_str())) {
    while (dirent* e = readdir(d)) {
      if (aiondb::ParseWalFileName(e->d_name)) names.push_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> out;
  for (const std::string& n : names) {
    const std::string data = ReadFile(data_dir + "/wal/" + n);
    auto h = aiondb::DecodeFileHeader(data);
    EXPECT_TRUE(h.ok() && h->has_value()) << n;
    if (!h.ok() || !h->has_value()) continue;
    if (headers) headers->push_back(**h);
    absl::string_view rest = absl::string_view(data).substr((*h)->entry_offset);
    while (!rest.empty()) {
      auto e = aiondb::DecodeEntryHeader(rest);
      EXPECT_TRUE(e.ok() && e->has_value()) << n << ": " << e.status();
      if (!e.ok() || !e->has_value()) break;
      out.emplace_back(rest.substr(0, (*e)->encoded_len));
      rest.remove_prefix((*e)->encoded_len);
    }
  }
  return out;
}

grpc::Status StartAiondb(AgentProcess& agent, const Fake& fake, bool bootstrap,
                         v1::Dialect dialect = v1::DIALECT_AIONDB) {
  return StartReplica(agent, fake.ConnInfo(), "", nullptr,
                      [&](v1::StartReplicaRequest* r) {
                        r->set_dialect(dialect);
                        r->set_bootstrap(bootstrap);
                      });
}

bool FlushedTo(AgentProcess& agent, uint64_t lsn, absl::Duration timeout = absl::Seconds(60)) {
  return WaitFor(
      [&] {
        auto p = GetProgress(agent);
        return p.ok() && p->flush_lsn() >= lsn;
      },
      timeout);
}

// Every START_REPLICATION resumed right after an entry the primary has (or at 1 on an
// empty store): never at an entry already held.
void ExpectResumesAfterEntries(const Fake& fake) {
  const std::vector<uint64_t> lsns = fake.lsns();
  const std::set<uint64_t> known(lsns.begin(), lsns.end());
  for (const std::string& cmd : fake.start_commands()) {
    const std::string lsn_text = cmd.substr(cmd.rfind(' ') + 1);
    auto lsn = Lsn::Parse(lsn_text);
    ASSERT_TRUE(lsn.ok()) << cmd;
    EXPECT_EQ(cmd, absl::StrCat("START_REPLICATION ", aiondb::FormatLsn(lsn->value())));
    EXPECT_TRUE(lsn->value() == 1 || known.count(lsn->value() - 1) == 1)
        << cmd << " does not resume right after an entry";
  }
}

void ExpectStatusUpdatesDurable(const Fake& fake) {
  const std::vector<uint64_t> lsns = fake.lsns();
  const std::set<uint64_t> known(lsns.begin(), lsns.end());
  uint64_t prev = 0;
  for (const aiondb::StatusUpdate& u : fake.status_updates()) {
    // Only fsynced entries are reported: write = flush = an entry's LSN.
    EXPECT_EQ(u.write_lsn, u.flush_lsn);
    EXPECT_LE(u.apply_lsn, u.flush_lsn);
    EXPECT_TRUE(u.flush_lsn == 0 || known.count(u.flush_lsn) == 1) << u.flush_lsn;
    EXPECT_GE(u.flush_lsn, prev) << "flush went backwards";
    prev = std::max(prev, u.flush_lsn);
  }
}

TEST(AiondbE2E, BootstrapThenStreamingAcrossReconnect) {
  Fake::Options o;
  o.auth = Fake::Auth::kScram;
  o.compression = aiondb::Compression::kLz4;
  o.extra_backup_files = {{"pages/0001.page", std::string(70000, 'p')},
                          {"replication_slots/s1.json", "{\"slot\":\"s1\"}"}};
  Fake fake(o);
  fake.AddEntries(3000);
  const std::string data_dir = FreshTestDir("aiondb_bootstrap");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  grpc::Status st = StartAiondb(**agent, fake, /*bootstrap=*/true);
  ASSERT_TRUE(st.ok()) << st.error_message() << (*agent)->ReadLog();
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back())) << (*agent)->ReadLog();
  EXPECT_EQ(fake.backups_served(), 1);
  // Bootstrap: the backup's files, the identity as aiondb-server writes it.
  EXPECT_EQ(ReadFile(data_dir + "/wal/pages/0001.page"), std::string(70000, 'p'));
  EXPECT_EQ(ReadFile(data_dir + "/wal/replication_slots/s1.json"), "{\"slot\":\"s1\"}");
  EXPECT_EQ(ReadFile(data_dir + "/replication/system_id"), "7400000000000000001");
  EXPECT_EQ(ReadFile(data_dir + "/replication/timeline"), "1");
  // The first START_REPLICATION follows the backup's last entry.
  ASSERT_FALSE(fake.start_commands().empty());
  EXPECT_EQ(fake.start_commands()[0],
            "START_REPLICATION " + aiondb::FormatLsn(fake.lsns().back() + 1));

  fake.AddEntries(4000);
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back()));
  fake.EndStream();  // the primary ends the stream; the replica reconnects
  ASSERT_TRUE(WaitFor([&] { return fake.connections() >= 3; }, absl::Seconds(30)));
  fake.AddEntries(4000);
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back())) << (*agent)->ReadLog();
  ASSERT_GE(fake.start_commands().size(), 2u);
  ExpectResumesAfterEntries(fake);
  ExpectStatusUpdatesDurable(fake);
  EXPECT_EQ(fake.max_flush_reported(), fake.lsns().back());

  // Replay verified every entry (the backup's and the streamed ones).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = GetProgress(**agent);
        return p.ok() && p->apply_lsn() == fake.lsns().back();
      },
      absl::Seconds(30)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->replay().records(), 11000u);
  // Records counted by aiondb's kinds: the fake's tags run 1..40, so 40 kinds.
  EXPECT_EQ(p->replay().resource_managers_size(), 40);
  uint64_t by_kind = 0;
  for (const auto& k : p->replay().resource_managers()) by_kind += k.records();
  EXPECT_EQ(by_kind, 11000u);
  EXPECT_EQ(p->replay().resource_managers(0).name(), "CommitTxn");
  EXPECT_EQ(p->system_identifier(), 7400000000000000001ull);
  EXPECT_EQ(p->metrics().sessions_failed(), 0u);

  std::vector<aiondb::FileHeader> headers;
  const std::vector<std::string> stored = StoredEntries(data_dir, &headers);
  ASSERT_EQ(stored.size(), 11000u);
  EXPECT_TRUE(stored == fake.entries()) << "the stored entries differ from those sent";
  ASSERT_GE(headers.size(), 2u);  // the backup had two WAL files
  for (const auto& h : headers) {
    EXPECT_EQ(h.lsn_mode, aiondb::LsnMode::kLogical);
    EXPECT_EQ(h.system_id, 7400000000000000001ull);
  }
}

TEST(AiondbE2E, ResumeAfterKill9NeitherLosesNorReRequests) {
  Fake::Options o;
  o.auth = Fake::Auth::kMd5;
  o.mode = aiondb::LsnMode::kByteOffset;
  o.framed = false;
  o.pace = absl::Milliseconds(5);  // 3,000 more entries take 300 ms: the kill lands in them
  Fake fake(o);
  fake.AddEntries(4000);
  const std::string data_dir = FreshTestDir("aiondb_kill9");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartAiondb(**agent, fake, /*bootstrap=*/false).ok());
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back()));
  EXPECT_EQ(fake.start_commands()[0], "START_REPLICATION 0/00000001");
  // More WAL arrives and the agent dies somewhere in it.
  fake.AddEntries(3000);
  ASSERT_TRUE(WaitFor([&] { return fake.max_flush_reported() > fake.lsns()[4000]; },
                      absl::Seconds(30)));
  (*agent)->Kill();
  EXPECT_LT(fake.last_sent(), fake.lsns().back()) << "the stream was not under way";
  const size_t commands_before = fake.start_commands().size();
  // Restarted, it resumes by itself from what it durably holds.
  agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  fake.AddEntries(3000);
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back())) << (*agent)->ReadLog();
  ASSERT_GT(fake.start_commands().size(), commands_before);
  ExpectResumesAfterEntries(fake);
  ExpectStatusUpdatesDurable(fake);
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->metrics().sessions_failed(), 0u) << p->last_error();
  std::vector<aiondb::FileHeader> headers;
  const std::vector<std::string> stored = StoredEntries(data_dir, &headers);
  ASSERT_EQ(stored.size(), 10000u);
  EXPECT_TRUE(stored == fake.entries());
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(headers[0].lsn_mode, aiondb::LsnMode::kByteOffset);
}

TEST(AiondbE2E, AutoDetectsAiondbWithCleartextZstdAndLegacyChecksums) {
  Fake::Options o;
  o.auth = Fake::Auth::kCleartext;
  o.compression = aiondb::Compression::kZstd;
  o.legacy_checksum = true;
  Fake fake(o);
  fake.AddEntries(500);
  const std::string data_dir = FreshTestDir("aiondb_auto");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(StartAiondb(**agent, fake, false, v1::DIALECT_AUTO).ok());
  ASSERT_TRUE(FlushedTo(**agent, fake.lsns().back()));
  // Idle: the primary's keepalives ask for a reply, and get one.
  ASSERT_TRUE(WaitFor([&] { return fake.keepalive_replies() >= 2; }, absl::Seconds(30)));
  EXPECT_TRUE(StoredEntries(data_dir) == fake.entries());
  // The data directory now holds aiondb WAL: PostgreSQL's dialect is refused.
  grpc::Status pg = StartReplica(**agent, fake.ConnInfo(), "", nullptr,
                                 [](v1::StartReplicaRequest* r) {
                                   r->set_dialect(v1::DIALECT_POSTGRESQL);
                                 });
  EXPECT_EQ(pg.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << pg.error_message();
}

TEST(AiondbE2E, WrongPasswordKeepsRetrying) {
  Fake::Options o;
  o.auth = Fake::Auth::kScram;
  o.password = "the-real-one";
  Fake fake(o);
  fake.AddEntries(10);
  const std::string data_dir = FreshTestDir("aiondb_badpw");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  grpc::Status st = StartReplica(**agent, "host=127.0.0.1 port=" + std::to_string(fake.port()) +
                                              " user=rep password=wrong sslmode=disable",
                                 "", nullptr, [](v1::StartReplicaRequest* r) {
                                   r->set_dialect(v1::DIALECT_AIONDB);
                                 });
  (void)st;
  ASSERT_TRUE(WaitFor([&] { return fake.auth_failures() >= 2; }, absl::Seconds(30)));
  EXPECT_EQ(fake.authenticated(), 0);
  EXPECT_TRUE(StoredEntries(data_dir).empty());
}

TEST(AiondbE2E, ExpectedSystemIdMismatchIsRefused) {
  Fake fake({});
  fake.AddEntries(10);
  const std::string data_dir = FreshTestDir("aiondb_sysid");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  v1::Progress out;
  grpc::Status st = StartReplica(**agent, fake.ConnInfo(), "", &out, [](v1::StartReplicaRequest* r) {
    r->set_dialect(v1::DIALECT_AIONDB);
    r->set_expected_system_identifier(42);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->failure_reason(), v1::FAILURE_REASON_SYSTEM_ID_MISMATCH);
  EXPECT_TRUE(fake.start_commands().empty());
  EXPECT_TRUE(StoredEntries(data_dir).empty());
}

TEST(AiondbE2E, HostileBackupDuringBootstrapWritesNothingOutsideAndRetries) {
  Fake::Options o;
  o.hostile_backup = Fake::HostileBackup::kPathEscape;
  Fake fake(o);
  fake.AddEntries(100);
  const std::string data_dir = FreshTestDir("aiondb_bootstrap_escape");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  (void)StartAiondb(**agent, fake, /*bootstrap=*/true);
  // Each attempt is refused at the escaping name, and tried again after a backoff.
  ASSERT_TRUE(WaitFor([&] { return fake.backups_served() >= 2; }, absl::Seconds(30)));
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->last_error().empty());
  EXPECT_EQ(p->last_error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT))
      << p->last_error();
  EXPECT_EQ(p->flush_lsn(), 0u);
  struct stat st;
  EXPECT_NE(stat((data_dir + "/escaped").c_str(), &st), 0);
  EXPECT_NE(stat((data_dir + "/replication/system_id").c_str(), &st), 0);
  EXPECT_TRUE(fake.start_commands().empty());
}

struct FetchOutcome {
  grpc::Status status;
  std::vector<v1::BackupProgress> progress;
  std::optional<v1::BaseBackupResult> result;
};

FetchOutcome Fetch(AgentProcess& agent, const Fake& fake, const std::string& target,
                   std::function<void(v1::FetchBaseBackupRequest*)> edit = nullptr) {
  v1::FetchBaseBackupRequest req;
  req.set_conninfo(fake.ConnInfo());
  req.set_target_dir(target);
  req.set_dialect(v1::DIALECT_AIONDB);
  if (edit) edit(&req);
  auto ctx = agent.Context(absl::Minutes(2));
  FetchOutcome out;
  auto reader = agent.stub()->FetchBaseBackup(ctx.get(), req);
  v1::FetchBaseBackupResponse msg;
  while (reader->Read(&msg)) {
    if (msg.has_progress()) out.progress.push_back(msg.progress());
    if (msg.has_result()) out.result = msg.result();
  }
  out.status = reader->Finish();
  return out;
}

TEST(AiondbE2E, FetchBaseBackupOverGrpc) {
  Fake::Options o;
  o.extra_backup_files = {{"pages/1.page", std::string(150000, 'q')}};
  Fake fake(o);
  fake.AddEntries(2500);
  const std::string data_dir = FreshTestDir("aiondb_fetch");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  const std::string target = FreshTestDir("aiondb_fetch_target");
  FetchOutcome out = Fetch(**agent, fake, target, [](v1::FetchBaseBackupRequest* r) {
    r->set_dialect(v1::DIALECT_AUTO);  // server_version names aiondb
  });
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->system_identifier(), 7400000000000000001ull);
  EXPECT_EQ(out.result->timeline(), 1u);
  EXPECT_EQ(out.result->start_lsn(), fake.lsns().back());
  EXPECT_EQ(out.result->files(), 3u);  // two WAL files and the page file
  ASSERT_FALSE(out.progress.empty());
  EXPECT_EQ(out.progress.back().files_done(), 3u);
  for (const auto& f : fake.WalFiles(2500)) EXPECT_EQ(ReadFile(target + "/" + f.path), f.content);
  EXPECT_EQ(ReadFile(target + "/pages/1.page"), std::string(150000, 'q'));
  // PostgreSQL's options do not exist in aiondb's BASE_BACKUP.
  FetchOutcome opt = Fetch(**agent, fake, FreshTestDir("aiondb_fetch_opt"),
                           [](v1::FetchBaseBackupRequest* r) { r->set_fast_checkpoint(true); });
  EXPECT_EQ(opt.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The same target again: not empty.
  FetchOutcome again = Fetch(**agent, fake, target);
  EXPECT_EQ(again.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(AiondbE2E, HostileBackupsOverGrpc) {
  const std::string data_dir = FreshTestDir("aiondb_fetch_hostile");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  {
    Fake::Options o;
    o.hostile_backup = Fake::HostileBackup::kPathEscape;
    Fake fake(o);
    fake.AddEntries(100);
    const std::string parent = FreshTestDir("aiondb_fetch_escape");
    mkdir(parent.c_str(), 0700);
    FetchOutcome out = Fetch(**agent, fake, parent + "/target");
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << out.status.error_message();
    struct stat st;
    EXPECT_NE(stat((parent + "/escaped").c_str(), &st), 0);
    EXPECT_FALSE(out.result.has_value());
  }
  {
    Fake::Options o;
    o.hostile_backup = Fake::HostileBackup::kOversizedFrame;
    Fake fake(o);
    fake.AddEntries(100);
    const std::string target = FreshTestDir("aiondb_fetch_big");
    FetchOutcome out = Fetch(**agent, fake, target);
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DATA_LOSS) << out.status.error_message();
    struct stat st;
    ASSERT_EQ(stat((target + "/big").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 0);  // nothing of the oversized frame written
  }
}

struct HostileCase {
  Fake::Hostile hostile;
  size_t good;  // entries that must be stored: everything before the bad message
};

class AiondbHostileStream : public ::testing::TestWithParam<HostileCase> {};

TEST_P(AiondbHostileStream, NothingWrittenPastTheBadFrame) {
  Fake::Options o;
  o.hostile = GetParam().hostile;
  o.hostile_at = 120;  // inside the third WalData (entries 100..149)
  Fake fake(o);
  fake.AddEntries(400);
  const std::string data_dir = FreshTestDir("aiondb_hostile");
  auto agent = AgentProcess::Start({.data_dir = data_dir});
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(StartAiondb(**agent, fake, false).ok());
  const uint64_t good_lsn = fake.lsns()[GetParam().good - 1];
  // The session fails on the bad message (DataLoss), and so does the retry: the replica
  // asks again from the last good entry each time.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = GetProgress(**agent);
        return p.ok() && p->metrics().sessions_failed() >= 2;
      },
      absl::Seconds(60)))
      << (*agent)->ReadLog();
  auto p = GetProgress(**agent);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->flush_lsn(), good_lsn);
  EXPECT_EQ(p->receive_lsn(), good_lsn);
  EXPECT_FALSE(p->last_error().empty());
  // The code of what the session ended with: the primary sent WAL that does not verify.
  EXPECT_EQ(p->last_error_code(), static_cast<int>(grpc::StatusCode::DATA_LOSS))
      << p->last_error();
  const std::vector<std::string> stored = StoredEntries(data_dir);
  const std::vector<std::string> sent = fake.entries();
  ASSERT_EQ(stored.size(), GetParam().good);
  EXPECT_TRUE(std::equal(stored.begin(), stored.end(), sent.begin()));
  // Every retry resumed right after the last good entry.
  const std::vector<std::string> cmds = fake.start_commands();
  ASSERT_GE(cmds.size(), 2u);
  EXPECT_EQ(cmds.back(), "START_REPLICATION " + aiondb::FormatLsn(good_lsn + 1));
}

INSTANTIATE_TEST_SUITE_P(
    Variants, AiondbHostileStream,
    ::testing::Values(HostileCase{Fake::Hostile::kBadCrc, 100},
                      HostileCase{Fake::Hostile::kGap, 100},
                      HostileCase{Fake::Hostile::kTrailingBytes, 100},
                      HostileCase{Fake::Hostile::kOversizedFrame, 120}),
    [](const ::testing::TestParamInfo<HostileCase>& i) {
      switch (i.param.hostile) {
        case Fake::Hostile::kBadCrc: return std::string("BadCrc");
        case Fake::Hostile::kGap: return std::string("Gap");
        case Fake::Hostile::kTrailingBytes: return std::string("TrailingBytes");
        case Fake::Hostile::kOversizedFrame: return std::string("OversizedFrame");
        default: return std::string("None");
      }
    });

}  // namespace
}  // namespace walrep::testing
