// Cancellation of PgConnection's waits by a CancelToken: during a command the server is
// sent a CancelRequest with the session's key on a new connection to the same address and
// the session is closed; during connect (the host name lookup included) the attempt ends
// at once. The fake servers here stand in for a primary that never answers.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "wire/cancel_token.h"
#include "wire/connection.h"
#include "wire/fake_pg_server.h"
#include "wire/resolver.h"

namespace walrep {
namespace {

using namespace ::walrep::fake_pg;  // NOLINT: test helpers

// Fires `token` once `ready` is notified and records when.
class Canceller {
 public:
  Canceller(CancelToken& token, absl::Notification& ready)
      : thread_([this, &token, &ready] {
          ready.WaitForNotification();
          fired_at_ = absl::Now();
          token.Cancel();
        }) {}
  ~Canceller() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  absl::Time fired_at() const { return fired_at_; }

 private:
  absl::Time fired_at_;
  std::thread thread_;
};

TEST(ConnectionCancelTest, CancelDuringCommandSendsCancelRequestAndCloses) {
  int port = 0;
  int listen_fd = ListenOnLoopback(&port);
  absl::Notification query_received;
  std::string cancel_packet;
  bool session_closed_by_client = false;
  std::thread server([&] {
    int fd = accept(listen_fd, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    Peer session(fd);
    TrustHandshake(session);  // BackendKeyData: pid 4242, key 0x1234
    auto q = session.ReadTyped();
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->first, 'Q');
    query_received.Notify();  // and never answer, like a primary in its checkpoint
    int cfd = accept(listen_fd, nullptr, nullptr);
    ASSERT_GE(cfd, 0);
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    {
      Peer cancel(cfd);
      std::string len;
      ASSERT_TRUE(cancel.ReadExact(&len, 4));
      ASSERT_TRUE(cancel.ReadExact(&cancel_packet, Peer::BigEndian32(len, 0) - 4));
    }  // closing it is the server's answer
    // The session itself must be closed by the client, not left waiting.
    char byte;
    ssize_t n;
    do {
      n = recv(fd, &byte, 1, 0);
    } while (n > 0);  // a Terminate may come first
    session_closed_by_client = n == 0;
  });

  CancelToken token;
  ConnectionOptions options = TestOptions();
  options.io_timeout = absl::Minutes(30);  // as BASE_BACKUP's wait for the checkpoint
  options.cancel = &token;
  auto conn = ConnectTo(port, "", options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  absl::StatusOr<std::vector<ResultSet>> pre;
  absl::Time returned;
  {
    Canceller canceller(token, query_received);
    char kind = 0;
    pre = (*conn)->StartCopy("BASE_BACKUP", &kind);
    returned = absl::Now();
    canceller.Join();
    EXPECT_LT(returned - canceller.fired_at(), absl::Seconds(1));
  }
  EXPECT_EQ(pre.status().code(), absl::StatusCode::kCancelled) << pre.status();
  EXPECT_FALSE((*conn)->is_open());
  server.join();
  close(listen_fd);
  ASSERT_EQ(cancel_packet.size(), 12u);
  EXPECT_EQ(Peer::BigEndian32(cancel_packet, 0), 80877102u);
  EXPECT_EQ(Peer::BigEndian32(cancel_packet, 4), 4242u);
  EXPECT_EQ(Peer::BigEndian32(cancel_packet, 8), 0x1234u);
  EXPECT_TRUE(session_closed_by_client);
}

TEST(ConnectionCancelTest, CancelDuringHostNameLookupEndsConnect) {
  absl::Notification lookup_started;
  absl::Notification release;
  Resolver resolver([&](const std::string&, const std::string&, std::vector<ResolvedAddress>*) {
    lookup_started.Notify();
    release.WaitForNotification();  // a name server that does not answer
    return EAI_AGAIN;
  });
  CancelToken token;
  ConnectionOptions options = TestOptions();
  options.resolver = &resolver;
  options.connect_timeout = absl::ZeroDuration();  // no limit: only the token ends it
  options.cancel = &token;
  auto info = ConnInfo::Parse("host=primary.invalid port=5432 user=rep sslmode=disable");
  ASSERT_TRUE(info.ok());
  absl::Time returned;
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = absl::UnknownError("not run");
  {
    Canceller canceller(token, lookup_started);
    conn = PgConnection::Connect(*info, options);
    returned = absl::Now();
    canceller.Join();
    EXPECT_LT(returned - canceller.fired_at(), absl::Seconds(1));
  }
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kCancelled) << conn.status();
  release.Notify();
  EXPECT_TRUE(resolver.AwaitIdle(absl::Now() + absl::Seconds(10)));
}

TEST(ConnectionCancelTest, CancelDuringStartupEndsConnect) {
  int port = 0;
  int listen_fd = ListenOnLoopback(&port);
  absl::Notification startup_received;
  bool closed_by_client = false;
  std::thread server([&] {
    int fd = accept(listen_fd, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    Peer p(fd);
    ASSERT_TRUE(p.ReadStartup().has_value());
    startup_received.Notify();  // no authentication request ever comes
    char byte;
    closed_by_client = recv(fd, &byte, 1, 0) == 0;
  });
  CancelToken token;
  ConnectionOptions options = TestOptions();
  options.connect_timeout = absl::ZeroDuration();
  options.io_timeout = absl::Minutes(30);
  options.cancel = &token;
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = absl::UnknownError("not run");
  {
    Canceller canceller(token, startup_received);
    conn = ConnectTo(port, "", options);
    EXPECT_LT(absl::Now() - canceller.fired_at(), absl::Seconds(1));
  }
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kCancelled) << conn.status();
  server.join();
  close(listen_fd);
  EXPECT_TRUE(closed_by_client);
}

TEST(ConnectionCancelTest, TokenFiredBeforeConnectRefusesAtOnce) {
  CancelToken token;
  token.Cancel();
  token.Cancel();  // idempotent
  EXPECT_TRUE(token.cancelled());
  ConnectionOptions options = TestOptions();
  options.cancel = &token;
  auto conn = ConnectTo(1, "", options);
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kCancelled) << conn.status();
}

TEST(CancelTokenTest, CallbackRunsOnCancelOrAtOnceAndNotAfterDestruction) {
  CancelToken token;
  int runs = 0;
  {
    CancelToken::Callback gone(token, [&] { ++runs; });
  }
  CancelToken::Callback cb(token, [&] { ++runs; });
  EXPECT_EQ(runs, 0);
  token.Cancel();
  EXPECT_EQ(runs, 1);
  CancelToken::Callback late(token, [&] { ++runs; });
  EXPECT_EQ(runs, 2);
  struct pollfd p = {token.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 1);
}

}  // namespace
}  // namespace walrep
