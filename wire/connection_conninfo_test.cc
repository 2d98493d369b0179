// Conninfo keys as PgConnection::Connect applies them, against scripted fake servers:
// tcp_user_timeout and keepalives on the socket, connect_timeout (whole attempt, per
// address, DNS included), load_balance_hosts, requirepeer and Unix sockets, gssencmode,
// client_encoding=auto.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/connection.h"
#include "wire/connection_settings.h"
#include "wire/fake_pg_server.h"
#include "wire/resolver.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using namespace ::walrep::fake_pg;  // NOLINT: test helpers

int GetInt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

// A port nothing listens on (refused at once).
int DeadPort() {
  FakeServer closed;
  return closed.port();
}

// A listener whose accept queue is full: further SYNs are dropped, so connecting to it
// hangs until the caller's timeout (a black hole on loopback).
class FullBacklog {
 public:
  FullBacklog() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(listen(fd_, 0), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    filler_ = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(filler_, reinterpret_cast<sockaddr*>(&a), len), 0);
  }
  ~FullBacklog() {
    close(filler_);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, filler_ = -1, port_ = 0;
};

absl::StatusOr<std::unique_ptr<PgConnection>> ConnectWith(
    const std::string& conninfo, ConnectionOptions options = TestOptions()) {
  auto info = ConnInfo::Parse(conninfo);
  if (!info.ok()) return info.status();
  return PgConnection::Connect(*info, options);
}

// --- keepalives*, tcp_user_timeout -------------------------------------------------

TEST(ConnInfoKeysTest, TcpUserTimeoutAndKeepalivesReachTheSocket) {
  FakeServer server;
  server.Run([&](Peer& p) { TrustHandshake(p); });
  auto conn = ConnectTo(server.port(),
                        "tcp_user_timeout=1500 keepalives_idle=40 keepalives_interval=6 "
                        "keepalives_count=4");
  ASSERT_TRUE(conn.ok()) << conn.status();
  const int fd = (*conn)->socket_fd();
  EXPECT_EQ(GetInt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 1500);
  EXPECT_EQ(GetInt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(GetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 40);
  EXPECT_EQ(GetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 6);
  EXPECT_EQ(GetInt(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
}

TEST(ConnInfoKeysTest, KeepalivesOff) {
  FakeServer server;
  server.Run([&](Peer& p) { TrustHandshake(p); });
  auto conn = ConnectTo(server.port(), "keepalives=0 tcp_user_timeout=900");
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(GetInt((*conn)->socket_fd(), SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(GetInt((*conn)->socket_fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 900);
}

TEST(ConnInfoKeysTest, KeepaliveValueTheKernelRefusesNeverConnects) {
  auto conn = ConnectTo(DeadPort(), "keepalives_idle=0");
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(conn.status().message(), HasSubstr("setsockopt(TCP_KEEPIDLE)"));
}

// --- connect_timeout ---------------------------------------------------------------

TEST(ConnectTimeoutOfTest, LibpqRules) {
  auto of = [](const std::string& s) {
    return ConnectTimeoutOf(*ConnInfo::Parse(s), absl::Seconds(10));
  };
  EXPECT_EQ(of(""), absl::Seconds(10));
  EXPECT_EQ(of("connect_timeout=0"), absl::InfiniteDuration());
  EXPECT_EQ(of("connect_timeout=-7"), absl::InfiniteDuration());
  EXPECT_EQ(of("connect_timeout=1"), absl::Seconds(2));
  EXPECT_EQ(of("connect_timeout=' 5 '"), absl::Seconds(5));
}

// libpq's connect_timeout covers everything up to a usable session, not just the TCP
// handshake: a server that accepts and then says nothing is given up on at the timeout,
// even though each read alone (io_timeout) could wait much longer.
TEST(ConnInfoKeysTest, ConnectTimeoutBoundsTheWholeAttempt) {
  FakeServer server;
  absl::Notification client_gone;
  server.Run([&](Peer& p) {
    p.ReadStartup();
    p.ReadTyped();  // returns when the client closes
    client_gone.Notify();
  });
  ConnectionOptions options = TestOptions();
  options.io_timeout = absl::Seconds(30);
  const absl::Time start = absl::Now();
  auto conn = ConnectTo(server.port(), "connect_timeout=2", options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr("timeout expired (connect_timeout)"));
  EXPECT_GE(took, absl::Seconds(2));
  EXPECT_LT(took, absl::Seconds(10));
  client_gone.WaitForNotification();
}

// Whole seconds, 1 raised to 2, and a fresh timeout for each host.
TEST(ConnInfoKeysTest, ConnectTimeoutOfOneIsTwoSecondsPerHost) {
  FullBacklog a, b;
  const absl::Time start = absl::Now();
  auto conn = ConnectWith(absl::StrCat("host=127.0.0.1,127.0.0.1 port=", a.port(), ",", b.port(),
                                       " user=rep sslmode=disable connect_timeout=1"));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(conn.ok());
  EXPECT_GE(took, absl::Seconds(4));
  EXPECT_LT(took, absl::Seconds(12));
  EXPECT_THAT(conn.status().message(),
              HasSubstr(absl::StrCat("port ", a.port(), " failed: timeout expired")));
  EXPECT_THAT(conn.status().message(),
              HasSubstr(absl::StrCat("port ", b.port(), " failed: timeout expired")));
}

// A name service that never answers in time.
struct StuckNameService {
  absl::Notification release;
  Resolver::LookupFn Fn() {
    return [this](const std::string&, const std::string&, std::vector<ResolvedAddress>*) {
      release.WaitForNotification();
      return EAI_AGAIN;
    };
  }
};

TEST(ConnInfoKeysTest, SlowDnsCountsAgainstConnectTimeoutAndTheNextHostIsTried) {
  StuckNameService ns;
  Resolver resolver(ns.Fn());
  FakeServer server;
  server.Run([&](Peer& p) { TrustHandshake(p); });
  ConnectionOptions options = TestOptions();
  options.resolver = &resolver;
  const absl::Time start = absl::Now();
  auto conn = ConnectWith(absl::StrCat("host=slow.test,127.0.0.1 port=5432,", server.port(),
                                       " user=rep sslmode=disable connect_timeout=2"),
                          options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->endpoint(), absl::StrCat("127.0.0.1:", server.port()));
  EXPECT_GE(took, absl::Seconds(2));
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_EQ(resolver.running(), 1);  // abandoned, still in the name service
  ns.release.Notify();               // ~Resolver joins it
}

TEST(ConnInfoKeysTest, SlowDnsAloneFailsWithTimeoutExpired) {
  StuckNameService ns;
  Resolver resolver(ns.Fn());
  ConnectionOptions options = TestOptions();
  options.resolver = &resolver;
  auto conn = ConnectWith("host=slow.test user=rep connect_timeout=2", options);
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(conn.status().message(),
            "could not translate host name \"slow.test\" to address: timeout expired");
  ns.release.Notify();
}

// --- load_balance_hosts --------------------------------------------------------------

// The ports in the order Connect tried them, read from its combined failure message.
std::vector<int> TriedPorts(const absl::Status& st) {
  std::vector<int> ports;
  for (absl::string_view part : absl::StrSplit(st.message(), "; ")) {
    size_t at = part.find("port ");
    int port = 0;
    if (at != absl::string_view::npos &&
        absl::SimpleAtoi(part.substr(at + 5, part.find(' ', at + 5) - at - 5), &port)) {
      ports.push_back(port);
    }
  }
  return ports;
}

std::string FourDeadHosts(std::vector<int>* ports, const std::string& extra) {
  for (int i = 0; i < 4; ++i) ports->push_back(DeadPort());
  return absl::StrCat("host=127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1 port=", (*ports)[0], ",",
                      (*ports)[1], ",", (*ports)[2], ",", (*ports)[3], " user=rep sslmode=disable ",
                      extra);
}

TEST(LoadBalanceHostsTest, DisabledKeepsTheOrderGiven) {
  std::vector<int> ports;
  const std::string conninfo = FourDeadHosts(&ports, "load_balance_hosts=disable");
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    ConnectionOptions options = TestOptions();
    options.load_balance_seed = seed;
    auto conn = ConnectWith(conninfo, options);
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(TriedPorts(conn.status()), ports);
  }
}

// Deterministic: the seeds are fixed, so this either always passes or always fails.
TEST(LoadBalanceHostsTest, RandomSpreadsTheFirstHostAndStillTriesEveryHost) {
  std::vector<int> ports;
  const std::string conninfo = FourDeadHosts(&ports, "load_balance_hosts=random");
  std::set<int> first;
  std::set<std::vector<int>> orders;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    ConnectionOptions options = TestOptions();
    options.load_balance_seed = seed;
    auto conn = ConnectWith(conninfo, options);
    ASSERT_FALSE(conn.ok());
    std::vector<int> tried = TriedPorts(conn.status());
    ASSERT_EQ(tried.size(), 4u) << conn.status();
    EXPECT_EQ(std::set<int>(tried.begin(), tried.end()), std::set<int>(ports.begin(), ports.end()));
    first.insert(tried[0]);
    orders.insert(tried);
  }
  EXPECT_GT(first.size(), 1u);
  EXPECT_GT(orders.size(), 4u);
  // The same seed gives the same order.
  ConnectionOptions options = TestOptions();
  options.load_balance_seed = 7;
  EXPECT_EQ(TriedPorts(ConnectWith(conninfo, options).status()),
            TriedPorts(ConnectWith(conninfo, options).status()));
}

// A name service answering with several loopback addresses for one name.
Resolver::LookupFn ManyAddresses(int port) {
  return [port](const std::string&, const std::string&, std::vector<ResolvedAddress>* out) {
    for (const char* ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
      auto a = Resolver::ParseNumeric(ip, absl::StrCat(port));
      out->push_back(a->at(0));
    }
    return 0;
  };
}

std::vector<std::string> TriedAddresses(const absl::Status& st) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(st.message(), "; ")) {
    size_t open = part.find('(');
    size_t close = part.find(')');
    if (open != absl::string_view::npos && close != absl::string_view::npos) {
      out.emplace_back(part.substr(open + 1, close - open - 1));
    }
  }
  return out;
}

TEST(LoadBalanceHostsTest, RandomAlsoShufflesEachHostsAddresses) {
  const int port = DeadPort();
  Resolver resolver(ManyAddresses(port));
  std::set<std::string> first;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    ConnectionOptions options = TestOptions();
    options.resolver = &resolver;
    options.load_balance_seed = seed;
    auto conn = ConnectWith(absl::StrCat("host=db.test port=", port,
                                         " user=rep sslmode=disable load_balance_hosts=random"),
                            options);
    std::vector<std::string> tried = TriedAddresses(conn.status());
    ASSERT_EQ(tried.size(), 4u) << conn.status();
    first.insert(tried[0]);
  }
  EXPECT_GT(first.size(), 1u);
  ConnectionOptions options = TestOptions();
  options.resolver = &resolver;
  auto ordered =
      ConnectWith(absl::StrCat("host=db.test port=", port, " user=rep sslmode=disable"), options);
  EXPECT_EQ(TriedAddresses(ordered.status()),
            (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}));
}

// --- Unix sockets: requirepeer, no TLS ----------------------------------------------

// A fake server on a Unix socket in a fresh directory under /tmp (TEST_TMPDIR is too deep
// for sun_path), playing one script per connection.
class UnixFakeServer {
 public:
  UnixFakeServer() {
    char dir[] = "/tmp/walrep-unix.XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/.s.PGSQL.5432";
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path_.c_str(), sizeof(sun.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
  }
  ~UnixFakeServer() {
    Join();
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Run(std::function<void(Peer&)> script) {
    thread_ = std::thread([this, script] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      Peer peer(c);
      script(peer);
    });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
  int fd_ = -1;
  std::thread thread_;
};

std::string MyUserName() {
  passwd* pw = getpwuid(geteuid());
  return pw != nullptr ? pw->pw_name : "";
}

TEST(RequirePeerTest, MatchingPeerConnectsAndTlsIsNotAttemptedOnUnixSockets) {
  UnixFakeServer server;
  std::map<std::string, std::string> params;
  server.Run([&](Peer& p) { TrustHandshake(p, &params); });  // a StartupMessage, no SSLRequest
  // sslmode=require does not apply to Unix sockets (libpq never sends SSLRequest there).
  auto conn = ConnectWith(absl::StrCat("host=", server.dir(), " user=rep sslmode=require ",
                                       "requirepeer=", MyUserName()));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_FALSE((*conn)->is_tls());
  EXPECT_EQ(params["user"], "rep");
}

TEST(RequirePeerTest, MismatchFailsBeforeAnythingIsSentAndEndsTheAttempt) {
  UnixFakeServer server;
  bool got_bytes = true;
  server.Run([&](Peer& p) {
    std::string first;
    got_bytes = p.ReadExact(&first, 1);  // false: the client hung up without a word
  });
  FakeServer tcp_fallback;  // libpq does not go on to the next host: nothing connects here
  auto conn =
      ConnectWith(absl::StrCat("host=", server.dir(), ",127.0.0.1 port=5432,", tcp_fallback.port(),
                               " user=rep sslmode=disable requirepeer=somebody-else"));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(conn.status().message(),
            absl::StrCat("connection to server on socket \"", server.dir(),
                         "/.s.PGSQL.5432\" failed: requirepeer specifies \"somebody-else\", but "
                         "actual peer user name is \"",
                         MyUserName(), "\""));
  server.Join();
  EXPECT_FALSE(got_bytes);
}

TEST(RequirePeerTest, IgnoredOverTcp) {
  FakeServer server;
  server.Run([&](Peer& p) { TrustHandshake(p); });
  auto conn = ConnectTo(server.port(), "requirepeer=somebody-else");
  EXPECT_TRUE(conn.ok()) << conn.status();
}

// --- gssencmode, client_encoding -----------------------------------------------------

TEST(ConnInfoKeysTest, GssencmodePreferProceedsWithoutGss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    // The first packet is the StartupMessage: no GSSENCRequest (80877104) before it.
    auto startup = p.ReadStartup();
    ASSERT_TRUE(startup.has_value());
    p.Send(Auth(0) + KeyData(1) + Ready());
  });
  auto conn = ConnectTo(server.port(), "gssencmode=prefer");
  EXPECT_TRUE(conn.ok()) << conn.status();
}

TEST(ConnInfoKeysTest, GssencmodeRequireIsRefusedBeforeConnecting) {
  auto conn = ConnectTo(DeadPort(), "gssencmode=require");
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(conn.status().message(), "gssencmode=require: walrep is built without GSSAPI");
}

TEST(ConnInfoKeysTest, ClientEncodingAutoIsTheLocalesEncoding) {
  FakeServer server;
  std::map<std::string, std::string> params;
  server.Run([&](Peer& p) { TrustHandshake(p, &params); });
  // Tests run in the C locale (nothing calls setlocale), which libpq also maps to SQL_ASCII.
  auto conn = ConnectTo(server.port(), "client_encoding=auto");
  ASSERT_TRUE(conn.ok()) << conn.status();
  server.Join();
  EXPECT_EQ(params["client_encoding"], "SQL_ASCII");
}

}  // namespace
}  // namespace walrep
