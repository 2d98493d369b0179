// keepalives*, tcp_user_timeout and connect_timeout at the socket: what ApplyTcpOptions
// sets (read back with getsockopt), what the kernel refuses, and how Transport bounds a
// connect — per address, DNS included.
#include "wire/socket_options.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "wire/resolver.h"
#include "wire/transport.h"
#include "wire/transport_test_util.h"

namespace walrep {
namespace {

using transport_testing::Listen;

int GetInt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0) << std::strerror(errno);
  return v;
}

class TcpSocket {
 public:
  TcpSocket() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {}
  ~TcpSocket() { close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_;
};

TEST(ApplyTcpOptionsTest, SetsWhatIsGivenAndLeavesTheRest) {
  TcpSocket s;
  const int default_idle = GetInt(s.fd(), IPPROTO_TCP, TCP_KEEPIDLE);
  TcpOptions o;
  o.keepalives_interval = 7;
  o.keepalives_count = 3;
  o.user_timeout_ms = 1500;
  ASSERT_TRUE(ApplyTcpOptions(s.fd(), o).ok());
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(GetInt(s.fd(), SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_KEEPIDLE), default_idle);
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_KEEPINTVL), 7);
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 1500);
}

TEST(ApplyTcpOptionsTest, UserTimeoutZeroAndNegativeMeanTheSystemDefault) {
  for (int given : {0, -3}) {
    TcpSocket s;
    TcpOptions o;
    o.user_timeout_ms = given;
    ASSERT_TRUE(ApplyTcpOptions(s.fd(), o).ok());
    EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
  }
}

// libpq skips TCP_USER_TIMEOUT when keepalives=0; walrep does not (socket_options.h).
TEST(ApplyTcpOptionsTest, KeepalivesOffSkipsTheKeepaliveSettingsButNotTheUserTimeout) {
  TcpSocket s;
  TcpOptions o;
  o.keepalives = false;
  o.keepalives_idle = 0;  // would be refused if it were applied
  o.user_timeout_ms = 2500;
  ASSERT_TRUE(ApplyTcpOptions(s.fd(), o).ok());
  EXPECT_EQ(GetInt(s.fd(), SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(GetInt(s.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
}

TEST(ApplyTcpOptionsTest, ValuesTheKernelRefusesFailAsInLibpq) {
  struct Case {
    TcpOptions options;
    const char* message;
  };
  std::vector<Case> cases(4);
  cases[0].options.keepalives_idle = 0;
  cases[0].message = "setsockopt(TCP_KEEPIDLE) failed: Invalid argument";
  cases[1].options.keepalives_idle = -5;  // raised to 0, as libpq does
  cases[1].message = "setsockopt(TCP_KEEPIDLE) failed: Invalid argument";
  cases[2].options.keepalives_interval = kMaxTcpKeepIntvl + 1;
  cases[2].message = "setsockopt(TCP_KEEPINTVL) failed: Invalid argument";
  cases[3].options.keepalives_count = kMaxTcpKeepCnt + 1;
  cases[3].message = "setsockopt(TCP_KEEPCNT) failed: Invalid argument";
  for (const Case& c : cases) {
    TcpSocket s;
    absl::Status st = ApplyTcpOptions(s.fd(), c.options);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(st.message(), c.message);
  }
  // The bounds themselves are accepted (the constants Validate() uses are the kernel's).
  TcpSocket s;
  TcpOptions max;
  max.keepalives_idle = kMaxTcpKeepIdle;
  max.keepalives_interval = kMaxTcpKeepIntvl;
  max.keepalives_count = kMaxTcpKeepCnt;
  EXPECT_TRUE(ApplyTcpOptions(s.fd(), max).ok());
}

TEST(TransportTcpOptionsTest, AppliedToTheConnectedSocket) {
  int port = 0;
  int listener = Listen(&port);
  ConnectOptions o;
  o.tcp.user_timeout_ms = 1500;
  o.tcp.keepalives_idle = 30;
  auto t = Transport::Connect("127.0.0.1", "", port, o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(GetInt(t->native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT), 1500);
  EXPECT_EQ(GetInt(t->native_handle(), IPPROTO_TCP, TCP_KEEPIDLE), 30);
  // A refused value is a configuration error naming the server, not a retryable one.
  o.tcp.keepalives_idle = 0;
  auto bad = Transport::Connect("127.0.0.1", "", port, o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(),
                                absl::StrCat("port ", port, " failed: setsockopt(TCP_KEEPIDLE)")))
      << bad.status();
  close(listener);
}

TEST(TransportTcpOptionsTest, NotAppliedToUnixSockets) {
  // TEST_TMPDIR is too deep for sun_path's 108 bytes.
  char tmp[] = "/tmp/walrep-unixopt.XXXXXX";
  ASSERT_NE(mkdtemp(tmp), nullptr);
  const std::string dir = tmp;
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  const std::string path = dir + "/.s.PGSQL.5999";
  std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  ASSERT_EQ(listen(l, 4), 0);
  ConnectOptions o;
  o.tcp.keepalives_idle = 0;  // refused on TCP; libpq never applies it to a Unix socket
  o.tcp.user_timeout_ms = 5;
  auto t = Transport::Connect(dir, "", 5999, o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->is_unix_socket());
  EXPECT_EQ(t->peer_address(), path);
  close(l);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

// --- connect_timeout --------------------------------------------------------------------

// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to
// it neither succeeds nor fails until the caller gives up (a black hole on loopback).
class FullBacklog {
 public:
  FullBacklog() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {};
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
  int fd_ = -1;
  int filler_ = -1;
  int port_ = 0;
};

TEST(ConnectTimeoutTest, BoundsTheTcpHandshake) {
  FullBacklog hole;
  ConnectOptions o;
  o.connect_timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto t = Transport::Connect("127.0.0.1", "", hole.port(), o);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(t.status().message(), "timeout expired")) << t.status();
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
}

// A name service that answers only when released, with the addresses it was given.
struct HeldNameService {
  absl::Notification release;
  std::vector<ResolvedAddress> answer;
  bool hold = true;
  Resolver::LookupFn Fn() {
    return [this](const std::string&, const std::string&, std::vector<ResolvedAddress>* out) {
      if (hold) release.WaitForNotification();
      *out = answer;
      return 0;
    };
  }
};

ResolvedAddress Loopback(int port) {
  absl::StatusOr<std::vector<ResolvedAddress>> a =
      Resolver::ParseNumeric("127.0.0.1", absl::StrCat(port));
  EXPECT_TRUE(a.ok());
  return a->at(0);
}

TEST(ConnectTimeoutTest, RestartsForEachAddress) {
  FullBacklog hole;
  HeldNameService ns;
  ns.hold = false;
  ns.answer = {Loopback(hole.port()), Loopback(hole.port())};  // two addresses, both dead
  Resolver resolver(ns.Fn());
  ConnectOptions o;
  o.connect_timeout = absl::Milliseconds(300);
  o.resolver = &resolver;
  const absl::Time start = absl::Now();
  auto t = Transport::Connect("db.test", "", hole.port(), o);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(t.ok());
  // Each address had its own 300 ms, and both failures are reported.
  EXPECT_GE(took, absl::Milliseconds(600));
  EXPECT_LT(took, absl::Seconds(5));
  const std::string one = absl::StrCat("connection to server at \"db.test\" (127.0.0.1), port ",
                                       hole.port(), " failed: timeout expired");
  EXPECT_EQ(t.status().message(), absl::StrCat(one, "; ", one));
}

TEST(ConnectTimeoutTest, CoversTheHostNameLookup) {
  HeldNameService ns;  // never answers in time
  Resolver resolver(ns.Fn());
  ConnectOptions o;
  o.connect_timeout = absl::Milliseconds(300);
  o.resolver = &resolver;
  const absl::Time start = absl::Now();
  auto t = Transport::Connect("slow.test", "", 5432, o);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(t.status().message(),
            "could not translate host name \"slow.test\" to address: timeout expired");
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
  ns.release.Notify();  // ~Resolver joins the abandoned lookup
}

TEST(ConnectTimeoutTest, HostaddrIsNeverLookedUp) {
  HeldNameService ns;  // would hang the test if consulted
  Resolver resolver(ns.Fn());
  ConnectOptions o;
  o.resolver = &resolver;
  auto bad = Transport::Connect("db.test", "db.test", 5432, o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "could not parse network address"));
  ns.release.Notify();
}

}  // namespace
}  // namespace walrep
