// RunBaseBackup against a fake primary that speaks the real protocol on two connections
// (the WAL stream and BASE_BACKUP): the PostgreSQL 12-14 framing end to end, and hostile
// or broken streams, each of which must fail with the right code, write nothing outside
// the target, and leave the target marked incomplete.
#include <netdb.h>
#include <poll.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "backup/backup_job.h"
#include "backup/incomplete.h"
#include "wire/testing/tar_builder.h"
#include "gtest/gtest.h"
#include "replay/replication_state.h"
#include "wire/base_backup_stream.h"
#include "wire/crc32c.h"
#include "replay/wal_test_builder.h"
#include "wire/fake_pg_server.h"
#include "wire/replication_messages.h"
#include "wire/resolver.h"

namespace walrep {
namespace {

using fake_pg::Complete;
using fake_pg::CopyResp;
using fake_pg::Peer;
using fake_pg::Ready;
using fake_pg::Row;
using walrep::testing::TarBuilder;

constexpr uint64_t kSystemId = 7300000000000000001ull;

std::string TypedRowDesc(const std::vector<std::pair<std::string, int32_t>>& cols) {
  std::string b = fake_pg::I16(static_cast<int16_t>(cols.size()));
  for (const auto& [name, oid] : cols) {
    b += name + '\0' + fake_pg::I32(0) + fake_pg::I16(0) + fake_pg::I32(oid) + fake_pg::I16(-1) +
         fake_pg::I32(-1) + fake_pg::I16(0);
  }
  return EncodeFrame('T', b);
}

void Handshake(Peer& p, const std::string& version) {
  auto startup = p.ReadStartup();
  ASSERT_TRUE(startup.has_value());
  p.Send(fake_pg::Auth(0) + fake_pg::Param("server_version", version) + fake_pg::KeyData(77) +
         Ready());
}

std::string CopyData(const std::string& payload) { return EncodeFrame('d', payload); }

std::string EndOfBackup() {
  return EncodeFrame('c', "") + TypedRowDesc({{"recptr", 25}, {"tli", 20}}) +
         Row({"0/1000100", "1"}) + Complete("SELECT") + Complete("BASE_BACKUP") + Ready();
}

// 0x200 bytes of valid WAL from 0/1000000 (the receiver verifies records as it writes).
std::string FirstWal() {
  WalTestBuilder b({.segment_size = 16u << 20, .system_id = kSystemId, .start = 0x1000000});
  while (b.bytes().size() < 0x200) b.Add(10, 0, 1, std::string(100, 'w'));
  return b.bytes().substr(0, 0x200);
}

// The backup connection after BASE_BACKUP: IDENTIFY_SYSTEM, where the primary's WAL
// ends now (the job streams WAL up to it), until the client goes away.
void AnswerWalEnd(Peer& p, const std::string& xlogpos) {
  for (;;) {
    auto m = p.ReadTyped();
    if (!m.has_value() || m->first != 'Q') return;
    EXPECT_EQ(m->second.substr(0, m->second.size() - 1), "IDENTIFY_SYSTEM");
    p.Send(TypedRowDesc({{"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) +
           Row({absl::StrCat(kSystemId), "1", xlogpos, std::nullopt}) +
           Complete("IDENTIFY_SYSTEM") + Ready());
  }
}

// The WAL connection: IDENTIFY_SYSTEM, SHOW, the slot, then WAL up to 0/1000200.
// With `answer_pings` off it never answers a reply-requested status update (a primary
// gone silent on the WAL connection).
void ServeWal(Peer& p, const std::string& version, bool answer_pings = true) {
  Handshake(p, version);
  for (;;) {
    auto m = p.ReadTyped();
    if (!m.has_value() || m->first != 'Q') return;
    std::string q = m->second.substr(0, m->second.size() - 1);
    if (q == "IDENTIFY_SYSTEM") {
      p.Send(TypedRowDesc({{"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) +
             Row({absl::StrCat(kSystemId), "1", "0/1000000", std::nullopt}) +
             Complete("IDENTIFY_SYSTEM") + Ready());
    } else if (q == "SHOW wal_segment_size") {
      p.Send(TypedRowDesc({{"wal_segment_size", 25}}) + Row({"16MB"}) + Complete("SHOW") + Ready());
    } else if (q.rfind("CREATE_REPLICATION_SLOT", 0) == 0) {
      EXPECT_NE(q.find("TEMPORARY"), std::string::npos) << q;
      p.Send(Complete("CREATE_REPLICATION_SLOT") + Ready());
    } else if (q.rfind("START_REPLICATION", 0) == 0) {
      EXPECT_NE(q.find("0/1000000"), std::string::npos) << q;
      XLogData x;
      x.start = Lsn(0x1000000);
      x.wal_end = Lsn(0x1000200);
      std::string wal = FirstWal();
      x.data = wal;
      p.Send(CopyResp('W') + CopyData(EncodeXLogData(x)));
      for (;;) {  // status updates until the client's CopyDone (or it goes away)
        auto in = p.ReadTyped();
        if (!in.has_value() || in->first == 'X') return;
        if (in->first == 'd') {  // a reply-requested update gets a keepalive, as walsender
          auto update = DecodeStandbyStatusUpdate(in->second);
          if (update.ok() && update->reply_requested && answer_pings) {
            p.Send(CopyData(EncodePrimaryKeepalive(PrimaryKeepalive{Lsn(0x1000200), 0, false})));
          }
        }
        if (in->first == 'c') {
          p.Send(EncodeFrame('c', "") + Complete("START_STREAMING") + Ready());
          return;
        }
      }
    } else {
      ADD_FAILURE() << "unexpected WAL query " << q;
      return;
    }
  }
}

// Two replication connections, each served on its own thread.
class FakePrimary {
 public:
  using CopyScript = std::function<void(Peer&, const std::string& query)>;
  FakePrimary(std::string version, std::vector<std::pair<std::string, std::string>> tablespaces,
              CopyScript copy)
      : version_(std::move(version)), tablespaces_(std::move(tablespaces)), copy_(std::move(copy)) {
    listen_fd_ = fake_pg::ListenOnLoopback(&port_);
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakePrimary() {
    stop_ = true;
    accept_.join();
    for (auto& t : peers_) t.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  // BASE_BACKUP is answered with nothing at all until the client goes away, like a
  // primary busy with a spread checkpoint. Set before the backup starts.
  void HangInCheckpoint() { hang_in_checkpoint_ = true; }
  // The WAL connection sends its WAL and then nothing, not even keepalives.
  void SilentWal() { silent_wal_ = true; }
  // Notified once BASE_BACKUP has been received.
  absl::Notification& backup_started() { return backup_started_; }
  // CancelRequests received on further connections, and the process ID of the last.
  int cancel_requests() const { return cancel_requests_.load(); }
  int32_t cancelled_pid() const { return cancelled_pid_.load(); }

 private:
  void AcceptLoop() {
    int fd = listen_fd_;
    for (int n = 0; !stop_;) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{10, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      peers_.emplace_back([this, c, n] {
        Peer peer(c);
        if (n == 0) {
          ServeWal(peer, version_, !silent_wal_.load());
        } else if (n == 1) {
          ServeBackup(peer);
        } else {
          ServeCancel(peer);
        }
      });
      ++n;
    }
  }
  // A connection after the two: a CancelRequest, answered by closing, as the postmaster.
  void ServeCancel(Peer& p) {
    auto packet = p.ReadUntyped();
    ASSERT_TRUE(packet.has_value());
    EXPECT_EQ(packet->first, 80877102u);
    ASSERT_EQ(packet->second.size(), 8u);
    cancelled_pid_ = static_cast<int32_t>(Peer::BigEndian32(packet->second, 0));
    ++cancel_requests_;
  }
  void ServeBackup(Peer& p) {
    Handshake(p, version_);
    auto m = p.ReadTyped();
    if (!m.has_value() || m->first != 'Q') return;
    std::string q = m->second.substr(0, m->second.size() - 1);
    EXPECT_EQ(q.find("TABLESPACE_MAP"), std::string::npos) << q;
    backup_started_.Notify();
    if (hang_in_checkpoint_) {
      while (p.ReadTyped().has_value()) {
      }
      return;
    }
    std::string rs = TypedRowDesc({{"recptr", 25}, {"tli", 20}}) + Row({"0/1000028", "1"}) +
                     Complete("SELECT") +
                     TypedRowDesc({{"spcoid", 26}, {"spclocation", 25}, {"size", 20}});
    for (const auto& [oid, loc] : tablespaces_) rs += Row({oid, loc, "1"});
    rs += Row({std::nullopt, std::nullopt, "2"}) + Complete("SELECT") + CopyResp('H');
    p.Send(rs);
    copy_(p, q);
    // After BASE_BACKUP the job asks where the primary's WAL ends now: the end of what
    // the WAL connection streams.
    AnswerWalEnd(p, "0/1000200");
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::string version_;
  std::vector<std::pair<std::string, std::string>> tablespaces_;
  CopyScript copy_;
  std::atomic<bool> hang_in_checkpoint_{false};
  std::atomic<bool> silent_wal_{false};
  absl::Notification backup_started_;
  std::atomic<int> cancel_requests_{0};
  std::atomic<int32_t> cancelled_pid_{0};
  std::atomic<bool> stop_{false};
  std::thread accept_;
  std::vector<std::thread> peers_;
};

std::string CrcHex(absl::string_view data) {
  uint32_t c = Crc32c(data);
  std::string le(reinterpret_cast<const char*>(&c), 4);  // the primary's native order
  return absl::BytesToHexString(le);
}

// A manifest as PostgreSQL writes it, sealed with its SHA-256 (or a wrong one).
std::string Manifest(const std::vector<std::pair<std::string, std::string>>& files,
                     bool good_seal = true) {
  std::string body = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
  for (size_t i = 0; i < files.size(); ++i) {
    absl::StrAppend(&body, i ? ",\n" : "", "{ \"Path\": \"", files[i].first, "\", \"Size\": ",
                    files[i].second.size(),
                    ", \"Last-Modified\": \"2026-11-27 23:21:01 GMT\", \"Checksum-Algorithm\": "
                    "\"CRC32C\", \"Checksum\": \"",
                    CrcHex(files[i].second), "\" }");
  }
  absl::StrAppend(&body, "\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": "
                         "\"0/1000028\", \"End-LSN\": \"0/1000100\" }\n],\n");
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), d);
  if (!good_seal) d[0] ^= 1;
  return absl::StrCat(body, "\"Manifest-Checksum\": \"",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(d), 32)),
                      "\"}\n");
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class BackupHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmp = ::testing::TempDir();
    while (!tmp.empty() && tmp.back() == '/') tmp.pop_back();
    root_ = absl::StrCat(tmp, "/hostile_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::system(("rm -rf '" + root_ + "' && mkdir -p '" + root_ + "/sentinel' '" + root_ +
                 "/data'").c_str());
    target_ = root_ + "/target";
  }

  absl::StatusOr<v1::BaseBackupResult> Run(
      FakePrimary& fake, std::map<std::string, std::string> mapping = {},
      std::function<void(v1::FetchBaseBackupRequest*)> edit = nullptr,
      std::function<bool()> cancelled = nullptr) {
    v1::FetchBaseBackupRequest req;
    req.set_conninfo(absl::StrCat("host=127.0.0.1 port=", fake.port(),
                                  " user=rep password=pw sslmode=disable"));
    for (const auto& [k, v] : mapping) (*req.mutable_tablespace_mapping())[k] = v;
    if (edit) edit(&req);
    ReplicationStateStore store(root_ + "/data");
    EXPECT_TRUE(store.Init().ok());
    BaseBackupContext ctx;
    ctx.state_store = &store;
    ctx.data_dir = root_ + "/data";
    ctx.connection_options = fake_pg::TestOptions();
    ctx.cancelled = std::move(cancelled);
    ctx.on_progress = [this](const v1::BackupProgress& p) {
      phases_.push_back(p.phase());
      if (p.phase() == v1::BACKUP_PHASE_WAITING_WAL && !waiting_wal_.load()) {
        waiting_wal_at_ = absl::Now();
        waiting_wal_ = true;
      }
      return true;
    };
    return RunBaseBackup(req, target_, ctx);
  }

  // The failure leaves nothing outside the target and the target marked incomplete.
  void ExpectContained() {
    EXPECT_TRUE(Exists(target_ + "/" + kIncompleteMarkerName));
    EXPECT_FALSE(Exists(target_ + "/backup_manifest"));
    EXPECT_FALSE(Exists(root_ + "/sentinel/evil"));
    EXPECT_FALSE(Exists(root_ + "/evil"));
  }

  std::string root_;
  std::string target_;
  std::vector<v1::BackupPhase> phases_;
  // Set (on the job's thread) when the phase first becomes WAITING_WAL.
  std::atomic<bool> waiting_wal_{false};
  absl::Time waiting_wal_at_;
};

// 15+ framing: one archive, then the manifest.
FakePrimary::CopyScript Modern(std::string tar, std::string manifest) {
  return [tar, manifest](Peer& p, const std::string&) {
    std::string out = CopyData(EncodeBaseBackupNewArchive("base.tar", ""));
    for (size_t i = 0; i < tar.size(); i += 700) out += CopyData(EncodeBaseBackupData(tar.substr(i, 700)));
    out += CopyData(EncodeBaseBackupProgress(static_cast<int64_t>(tar.size())));
    out += CopyData(EncodeBaseBackupManifestFollows()) + CopyData(EncodeBaseBackupData(manifest));
    p.Send(out + EndOfBackup());
  };
}

TEST_F(BackupHostileTest, Legacy14StreamExtractsAndVerifies) {
  std::string ts_server = "/srv/primary/ts1";
  std::string ts_local = root_ + "/ts_local";
  std::string rel = "PG_14_202107181/16401/16402";
  std::string ts_tar = TarBuilder().Dir("PG_14_202107181/").Dir("PG_14_202107181/16401/")
                           .File(rel, std::string(8192, 't')).out;  // no trailer, as 12-14
  std::string base_tar = TarBuilder().File("PG_VERSION", "14\n").Dir("global/")
                             .File("global/pg_control", std::string(8192, 'c')).Dir("pg_wal/")
                             .Dir("pg_tblspc/").Symlink("pg_tblspc/16400", ts_server).out;
  std::string manifest = Manifest({{"PG_VERSION", "14\n"},
                                   {"global/pg_control", std::string(8192, 'c')},
                                   {"pg_tblspc/16400/" + rel, std::string(8192, 't')}});
  FakePrimary fake("14.9", {{"16400", ts_server}}, [&](Peer& p, const std::string& q) {
    EXPECT_EQ(q.find("("), std::string::npos) << "12-14 take keyword options: " << q;
    EXPECT_NE(q.find("MANIFEST_CHECKSUMS"), std::string::npos) << q;
    // A CopyOut per tablespace (base last), then one with the manifest.
    p.Send(CopyData(ts_tar.substr(0, 1000)) + CopyData(ts_tar.substr(1000)) + EncodeFrame('c', "") +
           CopyResp('H') + CopyData(base_tar) + EncodeFrame('c', "") + CopyResp('H') +
           CopyData(manifest.substr(0, 50)) + CopyData(manifest.substr(50)) + EndOfBackup());
  });
  auto r = Run(fake, {{ts_server, ts_local}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->manifest_verified());
  EXPECT_EQ(r->system_identifier(), kSystemId);
  EXPECT_EQ(r->start_lsn(), 0x1000028u);
  EXPECT_EQ(r->end_lsn(), 0x1000100u);
  EXPECT_EQ(r->files(), 4u);  // with backup_manifest
  EXPECT_EQ(Slurp(target_ + "/backup_manifest"), manifest);
  EXPECT_EQ(Slurp(ts_local + "/" + rel), std::string(8192, 't'));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
  std::string wal = Slurp(target_ + "/pg_wal/000000010000000000000001");
  EXPECT_EQ(wal.size(), 16u << 20);
  EXPECT_EQ(wal.substr(0, 0x200), FirstWal());
  char link[256] = {};
  ASSERT_GT(readlink((target_ + "/pg_tblspc/16400").c_str(), link, sizeof(link) - 1), 0);
  EXPECT_EQ(std::string(link), ts_local);
  ReplicationStateStore store(root_ + "/data");
  EXPECT_EQ(store.LoadSystemId().value(), kSystemId);
  EXPECT_EQ(store.LoadTimeline().value(), 1u);
  ASSERT_FALSE(phases_.empty());
  EXPECT_EQ(phases_.front(), v1::BACKUP_PHASE_STARTING);
  EXPECT_EQ(phases_.back(), v1::BACKUP_PHASE_DONE);
}

TEST_F(BackupHostileTest, Legacy12StreamHasNoManifest) {
  std::string base_tar = TarBuilder().File("PG_VERSION", "12\n").Dir("pg_wal/").out;
  FakePrimary fake("12.17", {}, [&](Peer& p, const std::string& q) {
    EXPECT_EQ(q.find("MANIFEST"), std::string::npos) << "12 has no manifest: " << q;
    p.Send(CopyData(base_tar) + EndOfBackup());
  });
  auto r = Run(fake);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->manifest_verified());
  EXPECT_EQ(Slurp(target_ + "/PG_VERSION"), "12\n");
  EXPECT_FALSE(Exists(target_ + "/backup_manifest"));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
}

TEST_F(BackupHostileTest, UnannouncedTablespaceArchiveIsRefused) {
  FakePrimary fake("15.4", {}, [this](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("16999.tar", root_ + "/sentinel")) +
           CopyData(EncodeBaseBackupData(TarBuilder().File("evil", "x").Trailer().out)) +
           EndOfBackup());
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, DotDotMemberIsRefused) {
  std::string tar = TarBuilder().File("../sentinel/evil", "x").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, AbsoluteMemberIsRefused) {
  std::string tar = TarBuilder().File(root_ + "/sentinel/evil", "x").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WriteThroughSymlinkIsRefused) {
  std::string tar = TarBuilder().Symlink("base", root_ + "/sentinel").File("base/evil", "x")
                        .Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, OversizedCopyDataIsRefused) {
  FakePrimary fake("15.4", {}, [](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) + "d" +
           fake_pg::I32((64 << 20) + 4) + std::string(1 << 16, 'x'));
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WrongManifestChecksumIsDataLoss) {
  std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({{"PG_VERSION", "15\n"}}, false)));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WrongFileChecksumIsDataLoss) {
  std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({{"PG_VERSION", "16\n"}})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("PG_VERSION"), std::string::npos) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ArchiveCutInAMemberIsDataLoss) {
  std::string tar = TarBuilder().File("big", std::string(4096, 'b')).out.substr(0, 2048);
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ConnectionCutMidStreamFails) {
  std::string tar = TarBuilder().File("big", std::string(4096, 'b')).out.substr(0, 2048);
  FakePrimary fake("15.4", {}, [tar](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) + CopyData(EncodeBaseBackupData(tar)));
    p.CloseNow();
  });
  auto r = Run(fake);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == absl::StatusCode::kUnavailable ||
              r.status().code() == absl::StatusCode::kDataLoss)
      << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ChecksumFailureOnThePrimaryIsDataLoss) {
  FakePrimary fake("15.4", {}, [](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) +
           fake_pg::Fields('E', "ERROR", "XX001", "checksum verification failure during base backup") +
           Ready());
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, DifferentSystemIdentifierIsRefused) {
  ReplicationStateStore store(root_ + "/data");
  ASSERT_TRUE(store.Init().ok());
  ASSERT_TRUE(store.StoreSystemId(42).ok());
  FakePrimary fake("15.4", {}, Modern("", ""));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_FALSE(Exists(target_ + "/PG_VERSION"));
}

// 12-14 send tablespace archives without the end-of-archive blocks: in tar format each file
// gets them, the standby configuration goes into base.tar, and pg_wal.tar holds the WAL.
TEST_F(BackupHostileTest, Legacy14TarFormatWritesWholeArchives) {
  std::string ts_server = "/srv/primary/ts1";
  std::string rel = "PG_14_202107181/16401/16402";
  std::string ts_tar = TarBuilder().Dir("PG_14_202107181/").Dir("PG_14_202107181/16401/")
                           .File(rel, std::string(8192, 't')).out;
  std::string base_tar = TarBuilder().File("PG_VERSION", "14\n")
                             .File("postgresql.auto.conf", "work_mem = '8MB'\n").Dir("global/")
                             .File("global/pg_control", std::string(8192, 'c')).Dir("pg_wal/")
                             .Dir("pg_tblspc/").Symlink("pg_tblspc/16400", ts_server).out;
  std::string manifest = Manifest({{"PG_VERSION", "14\n"},
                                   {"global/pg_control", std::string(8192, 'c')},
                                   {"pg_tblspc/16400/" + rel, std::string(8192, 't')}});
  FakePrimary fake("14.9", {{"16400", ts_server}}, [&](Peer& p, const std::string& q) {
    p.Send(CopyData(ts_tar) + EncodeFrame('c', "") + CopyResp('H') + CopyData(base_tar) +
           EncodeFrame('c', "") + CopyResp('H') + CopyData(manifest) + EndOfBackup());
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.set_format(v1::BACKUP_FORMAT_TAR);
    req.set_write_recovery_conf(true);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->manifest_verified());
  EXPECT_EQ(std::vector<std::string>(r->archives().begin(), r->archives().end()),
            (std::vector<std::string>{"16400.tar", "base.tar", "pg_wal.tar"}));
  std::string ts_file = Slurp(target_ + "/16400.tar");
  EXPECT_EQ(ts_file.substr(0, ts_tar.size()), ts_tar);
  EXPECT_EQ(ts_file.substr(ts_tar.size()), std::string(1024, '\0'));
  EXPECT_EQ(Slurp(target_ + "/backup_manifest"), manifest);
  EXPECT_FALSE(Exists(target_ + "/pg_wal"));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
  // GNU tar is the oracle for what a restore sees.
  std::string x = root_ + "/x";
  ASSERT_EQ(std::system(("mkdir -p '" + x + "/pg_wal' && tar -xf '" + target_ + "/base.tar' -C '" +
                         x + "' && tar -xf '" + target_ + "/pg_wal.tar' -C '" + x + "/pg_wal'")
                            .c_str()),
            0);
  EXPECT_EQ(Slurp(x + "/PG_VERSION"), "14\n");
  EXPECT_EQ(Slurp(x + "/postgresql.auto.conf"),
            "work_mem = '8MB'\nprimary_conninfo = 'user=''rep'' password=''pw'' "
            "host=''127.0.0.1'' port=''" +
                std::to_string(fake.port()) + "'' sslmode=''disable'''\n");
  EXPECT_TRUE(Exists(x + "/standby.signal"));
  EXPECT_EQ(Slurp(x + "/pg_wal/000000010000000000000001").substr(0, 0x200), FirstWal());
}

TEST_F(BackupHostileTest, ServerCompressionBefore15IsRefusedByName) {
  FakePrimary fake("14.9", {}, [&](Peer&, const std::string& q) {
    ADD_FAILURE() << "no BASE_BACKUP may be sent: " << q;
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.mutable_compression()->set_method(v1::COMPRESSION_METHOD_LZ4);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("PostgreSQL 15"), std::string::npos) << r.status();
}

TEST_F(BackupHostileTest, ArchiveCompressedOtherThanAskedIsDataLoss) {
  FakePrimary fake("15.4", {}, [&](Peer& p, const std::string& q) {
    EXPECT_NE(q.find("COMPRESSION 'lz4'"), std::string::npos) << q;
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar.gz", "")) +
           CopyData(EncodeBaseBackupData("not gzip either")) + EndOfBackup());
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.mutable_compression()->set_method(v1::COMPRESSION_METHOD_LZ4);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("base.tar.gz"), std::string::npos) << r.status();
  ExpectContained();
}

// Waits for the client to close the backup connection (closing first would reset it and
// drop what it has not read yet).
void AwaitClientClose(Peer& p) {
  while (p.ReadTyped().has_value()) {
  }
}

TEST_F(BackupHostileTest, SilentPrimaryMidStreamFailsAfterReceiverTimeout) {
  std::string tar = TarBuilder().File("big", std::string(4096, 'b')).out.substr(0, 2048);
  FakePrimary fake("15.4", {}, [tar](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) +
           CopyData(EncodeBaseBackupData(tar)));
    AwaitClientClose(p);  // and not a byte more: a stuck primary or a dead link
  });
  absl::Time start = absl::Now();
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* req) {
    req->mutable_receiver_timeout()->set_nanos(300'000'000);
  });
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("receiver_timeout"), std::string::npos) << r.status();
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
  ExpectContained();
  // The abandoned BASE_BACKUP was cancelled on the primary, for the backup's backend.
  EXPECT_EQ(fake.cancel_requests(), 1);
  EXPECT_EQ(fake.cancelled_pid(), 77);
}

TEST_F(BackupHostileTest, PausesShorterThanReceiverTimeoutAreFine) {
  std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
  std::string manifest = Manifest({{"PG_VERSION", "15\n"}});
  FakePrimary fake("15.4", {}, [tar, manifest](Peer& p, const std::string&) {
    // Three pauses of 400 ms: over a second in all, each under the 1 s timeout.
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")));
    for (size_t i = 0; i < 3; ++i) {
      absl::SleepFor(absl::Milliseconds(400));  // the behaviour under test, not a sync
      size_t from = i * tar.size() / 3, to = (i + 1) * tar.size() / 3;
      p.Send(CopyData(EncodeBaseBackupData(tar.substr(from, to - from))));
    }
    p.Send(CopyData(EncodeBaseBackupManifestFollows()) + CopyData(EncodeBaseBackupData(manifest)) +
           EndOfBackup());
    AnswerWalEnd(p, "0/1000200");
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* req) {
    req->mutable_receiver_timeout()->set_seconds(1);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(fake.cancel_requests(), 0);
}

TEST_F(BackupHostileTest, NegativeReceiverTimeoutIsInvalid) {
  FakePrimary fake("15.4", {}, Modern("", ""));
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* req) {
    req->mutable_receiver_timeout()->set_seconds(-1);
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

TEST_F(BackupHostileTest, CancelDuringTheCheckpointEndsAtOnceAndCancelsOnThePrimary) {
  FakePrimary fake("15.4", {}, Modern("", ""));
  fake.HangInCheckpoint();
  std::atomic<bool> cancel{false};
  absl::Time cancelled_at;
  std::thread canceller([&] {
    fake.backup_started().WaitForNotification();
    cancelled_at = absl::Now();
    cancel = true;
  });
  auto r = Run(fake, {}, nullptr, [&] { return cancel.load(); });
  absl::Time returned = absl::Now();
  canceller.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(returned - cancelled_at, absl::Seconds(1));
  std::cout << "cancel during the checkpoint returned after "
            << absl::FormatDuration(returned - cancelled_at) << std::endl;
  EXPECT_EQ(fake.cancel_requests(), 1);
  EXPECT_EQ(fake.cancelled_pid(), 77);
  EXPECT_TRUE(Exists(target_ + "/" + kIncompleteMarkerName));
}

// A whole backup that ends at 0/1000300, past the WAL the WAL connection ever sends.
FakePrimary::CopyScript EndsPastTheWal() {
  return [](Peer& p, const std::string&) {
    std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
    std::string manifest = Manifest({{"PG_VERSION", "15\n"}});
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) +
           CopyData(EncodeBaseBackupData(tar)) + CopyData(EncodeBaseBackupManifestFollows()) +
           CopyData(EncodeBaseBackupData(manifest)) + EncodeFrame('c', "") +
           TypedRowDesc({{"recptr", 25}, {"tli", 20}}) + Row({"0/1000300", "1"}) +
           Complete("SELECT") + Complete("BASE_BACKUP") + Ready());
    AnswerWalEnd(p, "0/1000300");
  };
}

TEST_F(BackupHostileTest, SilentWalConnectionFailsAfterReceiverTimeout) {
  FakePrimary fake("15.4", {}, EndsPastTheWal());
  fake.SilentWal();
  absl::Time start = absl::Now();
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* req) {
    req->mutable_receiver_timeout()->set_nanos(400'000'000);
  });
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("WAL stream"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("receiver_timeout"), std::string::npos) << r.status();
  EXPECT_GE(took, absl::Milliseconds(400));
  EXPECT_LT(took, absl::Seconds(5));
  ExpectContained();
}

TEST_F(BackupHostileTest, CancelWhileWaitingForWalEndsAtOnce) {
  FakePrimary fake("15.4", {}, EndsPastTheWal());
  auto r = Run(fake, {}, nullptr, [this] { return waiting_wal_.load(); });
  absl::Time returned = absl::Now();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  ASSERT_TRUE(waiting_wal_.load());
  EXPECT_LT(returned - waiting_wal_at_, absl::Seconds(1));
  std::cout << "cancel while waiting for WAL returned after "
            << absl::FormatDuration(returned - waiting_wal_at_) << std::endl;
  // The WAL stream's session (in COPY) was cancelled on the primary as well.
  EXPECT_GE(fake.cancel_requests(), 1);
  ExpectContained();
}

// The very first phase: the primary's host name does not resolve (a name server that
// never answers, and no connect_timeout to bound it).
TEST_F(BackupHostileTest, CancelDuringTheHostNameLookupEndsAtOnce) {
  absl::Notification lookup_started;
  absl::Notification release;
  Resolver resolver([&](const std::string&, const std::string&, std::vector<ResolvedAddress>*) {
    lookup_started.Notify();
    release.WaitForNotification();
    return EAI_AGAIN;
  });
  v1::FetchBaseBackupRequest req;
  req.set_conninfo("host=primary.invalid port=5432 user=rep sslmode=disable connect_timeout=0");
  BaseBackupContext ctx;
  ctx.connection_options = fake_pg::TestOptions();
  ctx.connection_options.resolver = &resolver;
  ctx.cancelled = [&] { return lookup_started.HasBeenNotified(); };
  absl::Time start = absl::Now();
  auto r = RunBaseBackup(req, target_, ctx);
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(took, absl::Seconds(1));
  std::cout << "cancel during the host name lookup returned after " << absl::FormatDuration(took)
            << std::endl;
  EXPECT_FALSE(Exists(target_));  // nothing was written yet
  release.Notify();
  EXPECT_TRUE(resolver.AwaitIdle(absl::Now() + absl::Seconds(10)));
}

TEST_F(BackupHostileTest, UnmappedTablespacesAreRefusedBeforeAnythingIsWritten) {
  std::string ts1 = root_ + "/sentinel/ts1";
  std::string ts2 = root_ + "/sentinel/ts2";
  FakePrimary fake("15.4", {{"16400", ts1}, {"16401", ts2}}, [ts1](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("16400.tar", ts1)) +
           CopyData(EncodeBaseBackupData(TarBuilder().File("evil", "x").Trailer().out)));
    AwaitClientClose(p);
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find(absl::StrCat("\"", ts1, "\", \"", ts2, "\"")),
            std::string::npos)
      << r.status();
  EXPECT_FALSE(Exists(ts1));
  EXPECT_FALSE(Exists(ts2));
  ExpectContained();
  EXPECT_EQ(fake.cancel_requests(), 1);
}

TEST_F(BackupHostileTest, InPlaceTablespaceThroughASymlinkIsRefused) {
  ASSERT_EQ(symlink((root_ + "/sentinel").c_str(), (root_ + "/link").c_str()), 0);
  std::string ts = root_ + "/link/ts";
  FakePrimary fake("15.4", {{"16400", ts}},
                   [](Peer& p, const std::string&) { AwaitClientClose(p); });
  auto r =
      Run(fake, {}, [](v1::FetchBaseBackupRequest* req) { req->set_tablespaces_in_place(true); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_FALSE(Exists(root_ + "/sentinel/ts"));
  ExpectContained();
}

}  // namespace
}  // namespace walrep
