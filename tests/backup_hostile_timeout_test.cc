// RunBaseBackup against a fake primary (tests/backup_hostile_fake.h) that stalls: a primary
// silent mid-stream or on its WAL connection fails after receiver_timeout and not before
// (shorter pauses are fine), and a cancel ends the backup at once wherever it waits — in
// the checkpoint (cancelling on the primary too), for WAL, in the host name lookup.
#include <netdb.h>

#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "tests/backup_hostile_fake.h"
#include "wire/base_backup_stream.h"
#include "wire/resolver.h"
#include "wire/testing/tar_builder.h"

namespace walrep::backup_hostile {
namespace {

using walrep::testing::TarBuilder;

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

}  // namespace
}  // namespace walrep::backup_hostile
