// ReplicaSession against hostile or broken primaries (a scripted fake speaking the real
// protocol): a gap in the WAL stream, malformed and oversized messages, a different
// cluster on reconnect, a walsender that ends the COPY with CommandComplete, a primary
// gone silent (asked for a reply, then dropped after receiver_timeout) or answering just
// in time, and a stop while connecting. The acknowledgement rules are in
// replica_session_ack_test.cc.
#include "agent/replica_session.h"

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "agent/stream_failure.h"
#include "agent/session_test_util.h"
#include "wire/cancel_token.h"
#include "wire/fake_pg_server.h"

namespace walrep {
namespace {

using namespace session_test;  // NOLINT: the fake primary's vocabulary

class ReplicaSessionTest : public SessionFixture {};

TEST_F(ReplicaSessionTest, GapInTheStreamIsDataLossAndNothingPastItIsWritten) {
  fake_pg::FakeServer server;
  server.Run([](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 100)) + WalMsg(kSeg1 + 200, W(200, 50)));
    p.ReadTyped();  // whatever the client sends before it gives up
  });
  StreamSettings settings = Settings(server.port());
  ReplicaSession session(settings, &ctx_, &stop_);
  absl::Status st = session.Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("0/1000064"), std::string::npos) << st;  // expected position
  EXPECT_NE(st.message().find("0/10000C8"), std::string::npos) << st;  // what came
  EXPECT_EQ(writer_->write_lsn(), Lsn(kSeg1 + 100));
  EXPECT_FALSE(writer_->failed());  // a bad stream is not a storage failure
}

TEST_F(ReplicaSessionTest, OversizedAndMalformedMessagesAreRejected) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        // A CopyData header claiming 1 GiB: refused from the header alone.
        std::string header("d");
        header += fake_pg::I32(1 << 30);
        p.Send(header);
        p.ReadTyped();
      },
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(*EncodeCopyData("w\x01\x02"));  // XLogData shorter than its header
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

TEST_F(ReplicaSessionTest, ADifferentClusterOnReconnectIsRefused) {
  fake_pg::FakeServer server;
  server.Run(std::vector<std::function<void(Peer&)>>{
      [](Peer& p) {
        ASSERT_TRUE(Handshake(p, kSysId));
        p.Send(WalMsg(kSeg1, W(0, 64)));
        p.CloseNow();
      },
      [](Peer& p) {
        fake_pg::TrustHandshake(p);
        auto q = p.ReadTyped();
        p.Send(IdentifyDesc() +
               Row({"42", "1", "0/1000100", std::nullopt}) + Complete("IDENTIFY_SYSTEM") +
               Ready());
        p.ReadTyped();
      }});
  StreamSettings settings = Settings(server.port());
  absl::Status first = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  absl::Status verdict;
  absl::Status second =
      ReplicaSession(settings, &ctx_, &stop_).Run([&](const absl::Status& v) { verdict = v; });
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  EXPECT_EQ(verdict.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.message().find("different cluster"), std::string::npos) << second;
  EXPECT_EQ(FailureReasonOf(second), v1::FAILURE_REASON_SYSTEM_ID_MISMATCH);
}

TEST_F(ReplicaSessionTest, CommandCompleteWhileStreamingIsTheClientsCleanShutdownNotDataLoss) {
  fake_pg::FakeServer server;
  server.Run([](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 3000)));
    // What a walsender sends when the server shuts down: CommandComplete, then it exits.
    p.Send(Complete("COPY 0"));
    // It exits once the client has gone: closing with the client's status update unread
    // would make this end send a reset, which may discard what the client has not read
    // yet (the WAL above) — a different test, of a connection lost.
    while (p.ReadTyped().has_value()) {
    }
    p.CloseNow();
  });
  StreamSettings settings = Settings(server.port());
  ReplicaSession session(settings, &ctx_, &stop_);
  absl::Status st = session.Run(nullptr);
  server.Join();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("primary shut down"), std::string::npos) << st;
  EXPECT_TRUE(session.primary_shut_down());
  EXPECT_TRUE(session.streamed());
  EXPECT_EQ(writer_->flush_lsn(), RecordEndWithin(3000));  // what arrived was made durable
}

TEST_F(ReplicaSessionTest, ASilentPrimaryIsAskedForAReplyThenDroppedAfterReceiverTimeout) {
  fake_pg::FakeServer server;
  std::atomic<bool> asked{false};
  std::atomic<bool> dropped{false};
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 3000)));
    // A partition: the connection stays open, nothing more is sent. Read what comes
    // until the client goes away.
    for (;;) {
      auto m = p.ReadTyped();
      if (!m.has_value()) break;
      if (m->first != 'd') continue;
      auto u = DecodeStandbyStatusUpdate(m->second);
      if (u.ok() && u->reply_requested) asked = true;
    }
    dropped = true;
  });
  StreamSettings settings = Settings(server.port());
  settings.receiver_timeout = absl::Seconds(2);
  const absl::Time start = absl::Now();
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  const absl::Duration took = absl::Now() - start;
  server.Join();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("receiver_timeout"), std::string::npos) << st;
  EXPECT_TRUE(asked.load());    // after half of the timeout, a reply was requested
  EXPECT_TRUE(dropped.load());  // and the connection was closed
  EXPECT_GE(took, absl::Seconds(2));
}

TEST_F(ReplicaSessionTest, AKeepaliveAnsweringTheReplyRequestKeepsTheSessionAlive) {
  fake_pg::FakeServer server;
  std::atomic<int> answered{0};
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 3000)));
    // An idle primary that is alive: it answers every reply request with a keepalive,
    // as a walsender does; after three of them it ends the stream cleanly.
    for (;;) {
      auto m = p.ReadTyped();
      if (!m.has_value()) return;
      if (m->first != 'd') continue;
      auto u = DecodeStandbyStatusUpdate(m->second);
      if (!u.ok() || !u->reply_requested) continue;
      if (++answered == 3) {
        p.Send(Complete("COPY 0"));
        p.CloseNow();
        return;
      }
      PrimaryKeepalive k;
      k.wal_end = Lsn(kSeg1 + 3000);
      p.Send(*EncodeCopyData(EncodePrimaryKeepalive(k)));
    }
  });
  StreamSettings settings = Settings(server.port());
  settings.receiver_timeout = absl::Seconds(1);
  ReplicaSession session(settings, &ctx_, &stop_);
  absl::Status st = session.Run(nullptr);
  server.Join();
  EXPECT_TRUE(session.primary_shut_down()) << st;  // never timed out in between
  EXPECT_EQ(answered.load(), 3);
}

// A stop while the session is still connecting (here: a server that takes the startup
// packet and never answers) ends it at once through the connect token, not after the
// connect timeout, and counts as a requested stop.
TEST_F(ReplicaSessionTest, AStopWhileConnectingEndsTheSessionAtOnce) {
  int port = 0;
  int listen_fd = fake_pg::ListenOnLoopback(&port);
  absl::Notification startup_received;
  std::thread server([&] {
    int fd = accept(listen_fd, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    Peer p(fd);
    ASSERT_TRUE(p.ReadStartup().has_value());
    startup_received.Notify();
    char byte;
    EXPECT_EQ(recv(fd, &byte, 1, 0), 0);  // the client closed; nothing was left waiting
  });
  StreamSettings settings = Settings(port);
  CancelToken connect_cancel;
  absl::Time stopped_at;
  std::thread stopper([&] {
    startup_received.WaitForNotification();
    stopped_at = absl::Now();
    stop_ = true;
    connect_cancel.Cancel();
  });
  ReplicaSession session(settings, &ctx_, &stop_);
  session.set_connect_cancel(&connect_cancel);
  absl::Status st = session.Run(nullptr);
  absl::Time returned = absl::Now();
  stopper.join();
  server.join();
  close(listen_fd);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_LT(returned - stopped_at, absl::Seconds(1));
  EXPECT_FALSE(session.streamed());
}

}  // namespace
}  // namespace walrep
