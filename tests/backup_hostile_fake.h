// A fake primary for RunBaseBackup's hostile tests (backup_hostile_test.cc,
// backup_hostile_timeout_test.cc): two replication connections, the WAL stream and
// BASE_BACKUP, each served on its own thread in the real protocol, with a script for what
// BASE_BACKUP's COPY sends; a manifest as PostgreSQL writes it; and the fixture that runs
// a backup against it and checks that a failure left nothing outside the target.
#ifndef WALREP_TESTS_BACKUP_HOSTILE_FAKE_H_
#define WALREP_TESTS_BACKUP_HOSTILE_FAKE_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "backup/backup_job.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "replay/replication_state.h"
#include "wire/fake_pg_server.h"

namespace walrep::backup_hostile {

using fake_pg::Complete;
using fake_pg::CopyResp;
using fake_pg::Peer;
using fake_pg::Ready;
using fake_pg::Row;

inline constexpr uint64_t kSystemId = 7300000000000000001ull;

// A RowDescription of (name, type oid) columns in text format.
std::string TypedRowDesc(const std::vector<std::pair<std::string, int32_t>>& cols);
// The startup answer: no authentication, server_version, BackendKeyData, ReadyForQuery.
void Handshake(Peer& p, const std::string& version);
std::string CopyData(const std::string& payload);
// BASE_BACKUP's end: CopyDone, the end position's result, BASE_BACKUP's CommandComplete.
std::string EndOfBackup();
// 0x200 bytes of valid WAL from 0/1000000 (the receiver verifies records as it writes).
std::string FirstWal();
// The backup connection after BASE_BACKUP: IDENTIFY_SYSTEM, where the primary's WAL
// ends now (the job streams WAL up to it), until the client goes away.
void AnswerWalEnd(Peer& p, const std::string& xlogpos);
// The WAL connection: IDENTIFY_SYSTEM, SHOW, the slot, then WAL up to 0/1000200.
// With `answer_pings` off it never answers a reply-requested status update (a primary
// gone silent on the WAL connection).
void ServeWal(Peer& p, const std::string& version, bool answer_pings = true);

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

// A file's CRC-32C as a manifest spells it.
std::string CrcHex(absl::string_view data);
// A manifest as PostgreSQL writes it, sealed with its SHA-256 (or a wrong one).
std::string Manifest(const std::vector<std::pair<std::string, std::string>>& files,
                     bool good_seal = true);
bool Exists(const std::string& path);
// 15+ framing: one archive, then the manifest.
FakePrimary::CopyScript Modern(std::string tar, std::string manifest);
// Waits for the client to close the backup connection (closing first would reset it and
// drop what it has not read yet).
void AwaitClientClose(Peer& p);

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

}  // namespace walrep::backup_hostile

#endif  // WALREP_TESTS_BACKUP_HOSTILE_FAKE_H_
