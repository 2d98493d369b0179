// Differential test of keepalives, keepalives_idle/_interval/_count and tcp_user_timeout:
// for each setting, libpq (PQconnectStart, which creates and configures the socket before
// returning) and walrep (Validate, TcpOptionsOf, Transport::Connect) connect to the same
// loopback listener. Both must refuse the same settings — walrep's message containing
// libpq's — and otherwise leave the same values in SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT, read back with getsockopt. Run on the
// same kernel, this also checks that Validate()'s range limits are the kernel's.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "libpq-fe.h"
#include "wire/connection_settings.h"
#include "wire/conninfo.h"
#include "wire/transport.h"

namespace walrep {
namespace {

// What a connection attempt left behind: the error, or the socket's settings.
struct Outcome {
  std::string error;  // "" on success
  int keepalive = -1, idle = -1, interval = -1, count = -1, user_timeout = -1;

  std::string ToString() const {
    if (!error.empty()) return absl::StrCat("error: ", error);
    return absl::StrFormat(
        "SO_KEEPALIVE=%d TCP_KEEPIDLE=%d TCP_KEEPINTVL=%d TCP_KEEPCNT=%d "
        "TCP_USER_TIMEOUT=%d",
        keepalive, idle, interval, count, user_timeout);
  }
};

int Get(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  return getsockopt(fd, level, name, &v, &len) == 0 ? v : -2;
}

Outcome Inspect(int fd) {
  Outcome o;
  o.keepalive = Get(fd, SOL_SOCKET, SO_KEEPALIVE);
  o.idle = Get(fd, IPPROTO_TCP, TCP_KEEPIDLE);
  o.interval = Get(fd, IPPROTO_TCP, TCP_KEEPINTVL);
  o.count = Get(fd, IPPROTO_TCP, TCP_KEEPCNT);
  o.user_timeout = Get(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
  return o;
}

Outcome Libpq(const std::string& conninfo) {
  PGconn* conn = PQconnectStart(conninfo.c_str());
  Outcome o;
  if (PQstatus(conn) == CONNECTION_BAD) {
    std::string msg = PQerrorMessage(conn);
    size_t at = msg.find("failed: ");
    o.error = std::string(
        absl::StripTrailingAsciiWhitespace(at == std::string::npos ? msg : msg.substr(at + 8)));
  } else {
    o = Inspect(PQsocket(conn));
  }
  PQfinish(conn);
  return o;
}

Outcome Walrep(const std::string& conninfo, const std::string& host, int port) {
  Outcome o;
  absl::StatusOr<ConnInfo> info = ConnInfo::Parse(conninfo);
  if (!info.ok()) return Outcome{std::string(info.status().message())};
  absl::Status st = info->Validate();
  if (!st.ok()) return Outcome{std::string(st.message())};
  ConnectOptions options;
  options.tcp = TcpOptionsOf(*info);
  absl::StatusOr<Transport> t = Transport::Connect(host, "", port, options);
  if (!t.ok()) return Outcome{std::string(t.status().message())};
  return Inspect(t->native_handle());
}

class SocketOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&a), len), 0);
    // Never accepted: the kernel completes each handshake into the queue.
    ASSERT_EQ(listen(listener_, 512), 0);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  void TearDown() override { close(listener_); }
  // The same settings through both; "" when they agree.
  std::string Compare(const std::string& settings) {
    const std::string conninfo = absl::StrCat(
        "host=127.0.0.1 port=", port_, " user=x sslmode=disable gssencmode=disable ", settings);
    Outcome theirs = Libpq(conninfo);
    Outcome ours = Walrep(conninfo, "127.0.0.1", port_);
    bool agree;
    if (!theirs.error.empty() || !ours.error.empty()) {
      // A setsockopt refusal is reported by walrep before connecting, naming the option.
      std::string key = theirs.error;
      if (absl::StartsWith(key, "setsockopt(")) key = key.substr(0, key.find(')') + 1);
      agree = !theirs.error.empty() && !ours.error.empty() && absl::StrContains(ours.error, key);
    } else {
      agree = ours.ToString() == theirs.ToString();
    }
    if (agree) return "";
    return absl::StrCat("[", settings, "] libpq: ", theirs.ToString(),
                        " | walrep: ", ours.ToString());
  }
  int listener_ = -1;
  int port_ = 0;
};

TEST_F(SocketOracleTest, SameSocketOptionsAndRefusalsAsLibpq) {
  const std::vector<std::string> cases = {
      "",
      "keepalives=1",
      "keepalives=0",
      "keepalives=2",
      "keepalives=' 1 '",
      "keepalives=abc",
      "keepalives=''",
      "keepalives=99999999999",
      "keepalives_idle=30",
      "keepalives_idle=' 45'",
      "keepalives_idle=0",
      "keepalives_idle=-5",
      "keepalives_idle=32767",
      "keepalives_idle=32768",
      "keepalives_idle=abc",
      "keepalives_idle=''",
      "keepalives_interval=5",
      "keepalives_interval=0",
      "keepalives_interval=32768",
      "keepalives_count=3",
      "keepalives_count=127",
      "keepalives_count=128",
      "keepalives_count=0",
      "keepalives_count=-1",
      "tcp_user_timeout=1500",
      "tcp_user_timeout=0",
      "tcp_user_timeout=-3",
      "tcp_user_timeout=' 7 '",
      "tcp_user_timeout=abc",
      "tcp_user_timeout=2147483647",
      "keepalives=0 keepalives_idle=abc",
      "keepalives=0 keepalives_count=0",
      "keepalives=0 keepalives_interval=0 tcp_user_timeout=0",
      "keepalives_idle=30 keepalives_interval=5 keepalives_count=4 tcp_user_timeout=10000",
  };
  // The comparison reads real values: libpq's own socket shows what it was told.
  Outcome probe = Libpq(absl::StrCat("host=127.0.0.1 port=", port_,
                                     " user=x sslmode=disable gssencmode=disable "
                                     "keepalives_idle=31 tcp_user_timeout=1234"));
  ASSERT_TRUE(probe.error.empty()) << probe.error;
  EXPECT_EQ(probe.idle, 31);
  EXPECT_EQ(probe.user_timeout, 1234);
  std::vector<std::string> diffs;
  for (const std::string& c : cases) {
    std::string d = Compare(c);
    if (!d.empty()) diffs.push_back(d);
  }
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
}

// libpq sets TCP_USER_TIMEOUT only when keepalives are on (an artifact of the else-if
// chain that sets its socket options, not a documented rule); walrep honours it either
// way. This pins the difference so that it stays deliberate.
TEST_F(SocketOracleTest, TcpUserTimeoutWithKeepalivesOffIsTheOneDifference) {
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", port_,
                                            " user=x sslmode=disable gssencmode=disable "
                                            "keepalives=0 tcp_user_timeout=1500");
  Outcome theirs = Libpq(conninfo);
  Outcome ours = Walrep(conninfo, "127.0.0.1", port_);
  ASSERT_TRUE(theirs.error.empty()) << theirs.error;
  ASSERT_TRUE(ours.error.empty()) << ours.error;
  EXPECT_EQ(theirs.keepalive, 0);
  EXPECT_EQ(ours.keepalive, 0);
  EXPECT_EQ(theirs.user_timeout, 0);
  EXPECT_EQ(ours.user_timeout, 1500);
}

// Over a Unix socket libpq looks at none of these settings, so values it would refuse on
// TCP are accepted; walrep agrees.
TEST(SocketOracleUnixTest, SettingsAreIgnoredOnUnixSockets) {
  char dir[] = "/tmp/walrep-oracle.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/.s.PGSQL.5432");
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  ASSERT_EQ(listen(l, 16), 0);
  for (const char* settings : {"keepalives_idle=0", "keepalives=abc", "tcp_user_timeout=x"}) {
    const std::string conninfo = absl::StrCat("host=", dir, " port=5432 user=x ", settings);
    PGconn* conn = PQconnectStart(conninfo.c_str());
    EXPECT_NE(PQstatus(conn), CONNECTION_BAD) << settings << ": " << PQerrorMessage(conn);
    PQfinish(conn);
    Outcome ours = Walrep(conninfo, dir, 5432);
    EXPECT_TRUE(ours.error.empty()) << settings << ": " << ours.error;
  }
  close(l);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace walrep
