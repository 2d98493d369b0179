// PgConnection against an in-process fake server on 127.0.0.1:0: one scripted thread per
// test plays the server side, including hostile and broken servers.
#include "wire/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/backend_error.h"
#include "wire/bytes.h"
#include "wire/framing.h"
#include "wire/md5_auth.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;

// The server end of one accepted connection. Blocking reads with a receive timeout, so a
// broken client cannot hang the test.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() { CloseNow(); }
  void CloseNow() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  bool ReadExact(std::string* out, size_t n) {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd_, out->data() + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  static uint32_t BigEndian32(const std::string& s, size_t at) {
    return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
           (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
           (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | static_cast<uint8_t>(s[at + 3]);
  }
  // An untyped startup-phase packet: returns (code, rest).
  std::optional<std::pair<uint32_t, std::string>> ReadUntyped() {
    std::string len;
    if (!ReadExact(&len, 4)) return std::nullopt;
    std::string body;
    if (!ReadExact(&body, BigEndian32(len, 0) - 4)) return std::nullopt;
    return std::make_pair(BigEndian32(body, 0), body.substr(4));
  }
  // The StartupMessage's parameters.
  std::optional<std::map<std::string, std::string>> ReadStartup() {
    auto p = ReadUntyped();
    if (!p.has_value() || p->first != 196608) return std::nullopt;
    std::map<std::string, std::string> params;
    const std::string& s = p->second;
    size_t i = 0;
    while (i < s.size() && s[i] != '\0') {
      size_t k_end = s.find('\0', i);
      size_t v_end = s.find('\0', k_end + 1);
      params[s.substr(i, k_end - i)] = s.substr(k_end + 1, v_end - k_end - 1);
      i = v_end + 1;
    }
    return params;
  }
  std::optional<std::pair<char, std::string>> ReadTyped() {
    std::string header;
    if (!ReadExact(&header, 5)) return std::nullopt;
    std::string body;
    if (!ReadExact(&body, BigEndian32(header, 1) - 4)) return std::nullopt;
    return std::make_pair(header[0], body);
  }
  void Send(const std::string& bytes) {
    ssize_t r = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    (void)r;
  }

 private:
  int fd_;
};

class FakeServer {
 public:
  FakeServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeServer() {
    Join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  void Run(std::function<void(Peer&)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      Peer peer(fd);
      script(peer);
    });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Backend message builders.
std::string I32(int32_t v) {
  std::string s;
  ByteWriter(&s).PutI32(v);
  return s;
}
std::string I16(int16_t v) {
  std::string s;
  ByteWriter(&s).PutI16(v);
  return s;
}
std::string Z(char c) { return std::string(1, c) + '\0'; }
std::string Auth(int32_t code, const std::string& extra = "") {
  return EncodeFrame('R', I32(code) + extra);
}
std::string Param(const std::string& name, const std::string& value) {
  return EncodeFrame('S', name + '\0' + value + '\0');
}
std::string KeyData(int32_t pid) { return EncodeFrame('K', I32(pid) + I32(0x1234)); }
std::string Ready() { return EncodeFrame('Z', "I"); }
std::string Fields(char type, const std::string& severity, const std::string& sqlstate,
                   const std::string& message) {
  return EncodeFrame(type, "S" + severity + '\0' + "V" + severity + '\0' + "C" + sqlstate +
                               '\0' + "M" + message + '\0' + '\0');
}
std::string RowDesc(const std::vector<std::string>& names) {
  std::string b = I16(static_cast<int16_t>(names.size()));
  for (const auto& n : names) b += n + '\0' + I32(0) + I16(0) + I32(25) + I16(-1) + I32(-1) + I16(0);
  return EncodeFrame('T', b);
}
std::string Row(const std::vector<std::optional<std::string>>& values) {
  std::string b = I16(static_cast<int16_t>(values.size()));
  for (const auto& v : values) b += v.has_value() ? I32(static_cast<int32_t>(v->size())) + *v : I32(-1);
  return EncodeFrame('D', b);
}
std::string Complete(const std::string& tag) { return EncodeFrame('C', tag + '\0'); }
std::string CopyResp(char type) { return EncodeFrame(type, std::string(1, '\0') + I16(0)); }

// Startup through ReadyForQuery with trust authentication; the startup params land in
// *params when given.
void TrustHandshake(Peer& p, std::map<std::string, std::string>* params = nullptr) {
  auto startup = p.ReadStartup();
  ASSERT_TRUE(startup.has_value());
  if (params != nullptr) *params = *startup;
  p.Send(Auth(0) + Param("server_version", "15.4 (Debian 15.4-1)") +
         Fields('N', "NOTICE", "00000", "hello") + KeyData(4242) + Ready());
}

ConnectionOptions TestOptions() {
  ConnectionOptions o;
  o.env = Environment{};
  o.env.os_user = "tester";
  o.io_timeout = absl::Seconds(5);
  return o;
}

absl::StatusOr<std::unique_ptr<PgConnection>> ConnectTo(int port, const std::string& extra = "",
                                                       ConnectionOptions options = TestOptions()) {
  auto info = ConnInfo::Parse(absl::StrCat("host=127.0.0.1 port=", port,
                                           " user=rep password=pw sslmode=disable ", extra));
  if (!info.ok()) return info.status();
  return PgConnection::Connect(*info, options);
}

TEST(ParseServerVersionTest, LikeLibpq) {
  EXPECT_EQ(ParseServerVersion("15.4 (Debian 15.4-1.pgdg120+1)"), 150004);
  EXPECT_EQ(ParseServerVersion("16beta1"), 160000);
  EXPECT_EQ(ParseServerVersion("9.6.24"), 90624);
  EXPECT_EQ(ParseServerVersion("12.0"), 120000);
  EXPECT_EQ(ParseServerVersion("garbage"), 0);
  EXPECT_EQ(ParseServerVersion(""), 0);
}

TEST(ConnectionTest, TrustStartupSendsParametersAndReadsSession) {
  FakeServer server;
  std::map<std::string, std::string> params;
  server.Run([&](Peer& p) {
    TrustHandshake(p, &params);
    auto t = p.ReadTyped();  // Terminate on Close()
    EXPECT_TRUE(t.has_value() && t->first == 'X');
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "trust");
  EXPECT_EQ((*conn)->server_version_num(), 150004);
  EXPECT_EQ((*conn)->backend_pid(), 4242);
  EXPECT_FALSE((*conn)->is_tls());
  EXPECT_THAT((*conn)->redacted_conninfo(), HasSubstr("********"));
  EXPECT_THAT((*conn)->redacted_conninfo(), ::testing::Not(HasSubstr("pw")));
  (*conn)->Close();
  (*conn)->Close();  // idempotent
  server.Join();
  EXPECT_EQ(params["user"], "rep");
  EXPECT_EQ(params["replication"], "true");
  EXPECT_EQ(params["application_name"], "walrep");
}

TEST(ConnectionTest, CleartextPassword) {
  FakeServer server;
  std::string sent;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(3));
    auto m = p.ReadTyped();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->first, 'p');
    sent = m->second;
    p.Send(Auth(0) + Ready());
  });
  auto conn = ConnectTo(server.port(), "application_name=mine");
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "cleartext");
  server.Join();
  EXPECT_EQ(sent, std::string("pw") + '\0');
}

TEST(ConnectionTest, Md5Password) {
  FakeServer server;
  std::string sent;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(5, "salt"));
    auto m = p.ReadTyped();
    ASSERT_TRUE(m.has_value());
    sent = m->second;
    p.Send(Auth(0) + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->auth_method(), "md5");
  server.Join();
  EXPECT_EQ(sent, *Md5PasswordHash("rep", "pw", "salt") + '\0');
}

TEST(ConnectionTest, ErrorResponseDuringStartupIsPermissionDenied) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(3));
    p.ReadTyped();
    p.Send(Fields('E', "FATAL", "28P01", "password authentication failed for user \"rep\""));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(conn.status().message(), HasSubstr("password authentication failed"));
  EXPECT_THAT(conn.status().message(), HasSubstr("127.0.0.1"));
  EXPECT_THAT(conn.status().message(), ::testing::Not(HasSubstr("pw ")));
  EXPECT_EQ(SqlStateOf(conn.status()), "28P01");
}

TEST(ConnectionTest, EofMidAuthIsUnavailable) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(std::string("R") + I32(12) + I32(5) + "sa");  // half of the salt, then gone
    p.CloseNow();
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
  EXPECT_THAT(conn.status().message(), HasSubstr(absl::StrCat("port ", server.port())));
}

TEST(ConnectionTest, OversizedFrameIsDataLossBeforeBuffering) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(std::string("R") + I32(0x40000000));  // 1 GiB announced, nothing follows
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kDataLoss) << conn.status();
}

TEST(ConnectionTest, UnexpectedMessageDuringStartupIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Row({"x"}));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(conn.status().message(), HasSubstr("'D'"));
}

TEST(ConnectionTest, UnsupportedAuthMethodIsUnimplemented) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(7));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(conn.status().message(), HasSubstr("authentication method 7"));
}

TEST(ConnectionTest, UnknownSaslMechanismIsUnimplemented) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(10, std::string("FOO-MECH") + '\0' + '\0'));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(conn.status().message(), HasSubstr("FOO-MECH"));
}

TEST(ConnectionTest, SaslContinueWithoutSaslIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(11, "r=abc"));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ConnectionTest, ChannelBindingRequireRefusesCleartext) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadStartup().has_value());
    p.Send(Auth(3));
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port(), "channel_binding=require");
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(conn.status().message(), HasSubstr("channel binding required"));
}

TEST(ConnectionTest, SslRequiredButServerSaysNo) {
  FakeServer server;
  server.Run([&](Peer& p) {
    auto req = p.ReadUntyped();
    ASSERT_TRUE(req.has_value());
    EXPECT_EQ(req->first, 80877103u);
    p.Send("N");
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port(), "sslmode=require");
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(conn.status().message(),
              HasSubstr("server does not support SSL, but SSL was required"));
}

TEST(ConnectionTest, SslPreferContinuesInPlainTextAfterNo) {
  FakeServer server;
  server.Run([&](Peer& p) {
    auto req = p.ReadUntyped();
    ASSERT_TRUE(req.has_value());
    p.Send("N");
    TrustHandshake(p);
  });
  auto conn = ConnectTo(server.port(), "sslmode=prefer");
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_FALSE((*conn)->is_tls());
}

TEST(ConnectionTest, RefusedPortIsUnavailableNamingHostAndPort) {
  int port;
  {
    FakeServer closed;
    port = closed.port();
  }
  auto conn = ConnectTo(port);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr(absl::StrCat("port ", port)));
}

TEST(ConnectionTest, NextHostTriedWhenFirstRefused) {
  int dead;
  {
    FakeServer closed;
    dead = closed.port();
  }
  FakeServer server;
  server.Run([&](Peer& p) { TrustHandshake(p); });
  auto info = ConnInfo::Parse(absl::StrCat("host=127.0.0.1,127.0.0.1 port=", dead, ",",
                                           server.port(), " user=rep sslmode=disable"));
  ASSERT_TRUE(info.ok());
  auto conn = PgConnection::Connect(*info, TestOptions());
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->endpoint(), absl::StrCat("127.0.0.1:", server.port()));
}

TEST(ConnectionTest, SilentServerTimesOutAsUnavailable) {
  FakeServer server;
  server.Run([&](Peer& p) {
    p.ReadStartup();
    p.ReadTyped();  // waits until the client gives up and closes
  });
  ConnectionOptions options = TestOptions();
  options.io_timeout = absl::Milliseconds(200);
  auto conn = ConnectTo(server.port(), "", options);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr("timeout"));
}

TEST(ConnectionTest, QueryReturnsResultSetsWithNoticesInterleaved) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    auto q = p.ReadTyped();
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->second, std::string("IDENTIFY_SYSTEM") + '\0');
    p.Send(RowDesc({"a", "b"}) + Fields('N', "NOTICE", "00000", "n1") + Row({"1", std::nullopt}) +
           Param("application_name", "x") + Row({"2", "z"}) + Complete("SELECT 2") +
           Complete("SET") + Fields('N', "WARNING", "01000", "n2") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("IDENTIFY_SYSTEM");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), 1u);
  ASSERT_EQ((*rs)[0].rows.size(), 2u);
  EXPECT_EQ((*rs)[0].rows[0].values[1], std::nullopt);
  EXPECT_EQ((*rs)[0].rows[1].values[1], "z");
  EXPECT_EQ((*conn)->parameter("application_name"), "x");
}

TEST(ConnectionTest, QueryErrorDrainsToReadyAndConnectionStaysUsable) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(Fields('E', "ERROR", "42704", "no such slot") + Ready());
    p.ReadTyped();
    p.Send(Complete("SET") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("READ_REPLICATION_SLOT x");
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rs.status().message(), HasSubstr("no such slot"));
  auto again = (*conn)->Query("SET x = 1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
}

TEST(ConnectionTest, QueryRefusesUnexpectedMessageAndCloses) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(EncodeFrame('?', "zz"));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("SELECT 1");
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*conn)->is_open());
  EXPECT_EQ((*conn)->Query("SELECT 1").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConnectionTest, StartCopyReturnsResultSetsBeforeCopyOut) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(RowDesc({"recptr", "tli"}) + Row({"0/2000028", "1"}) + Complete("SELECT") +
           RowDesc({"spcoid"}) + Row({std::nullopt}) + Complete("SELECT") + CopyResp('H') +
           EncodeFrame('d', "chunk") + Fields('N', "NOTICE", "00000", "x") +
           EncodeFrame('c', "") + Complete("SELECT") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 'x';
  auto rs = (*conn)->StartCopy("BASE_BACKUP", &kind);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(kind, 'H');
  EXPECT_EQ(rs->size(), 2u);
  std::string types;
  for (;;) {
    auto m = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->has_value());
    types += (*m)->type;
    if ((*m)->type == 'd') EXPECT_EQ((*m)->body, "chunk");
    if ((*m)->type == 'Z') break;
  }
  EXPECT_EQ(types, "dcCZ");
  EXPECT_FALSE((*conn)->HasBufferedMessage());
  // Back at ReadyForQuery: an ordinary query is allowed again (the server has quit, so
  // it fails on I/O, not as "busy").
  EXPECT_NE((*conn)->Query("x").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConnectionTest, StartCopyWithoutCopyReturnsResultsAndZeroKind) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(RowDesc({"next_tli", "next_tli_startpos"}) + Row({"2", "0/3000000"}) +
           Complete("START_STREAMING") + Complete("START_REPLICATION") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 'x';
  auto rs = (*conn)->StartCopy("START_REPLICATION 0/3000000 TIMELINE 1", &kind);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(kind, 0);
  ASSERT_EQ(rs->size(), 1u);
  EXPECT_EQ((*rs)[0].rows[0].values[0], "2");
}

TEST(ConnectionTest, CopyBothDeadlineBufferingAndErrors) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(CopyResp('W'));
    auto d = p.ReadTyped();  // the client's CopyData
    EXPECT_TRUE(d.has_value() && d->first == 'd' && d->second == "r-status");
    p.Send(EncodeFrame('d', "k1") + EncodeFrame('d', "k2"));
    auto done = p.ReadTyped();
    EXPECT_TRUE(done.has_value() && done->first == 'c');
    p.Send(Fields('E', "ERROR", "XX001", "corrupt"));
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 0;
  ASSERT_TRUE((*conn)->StartCopy("START_REPLICATION 0/0", &kind).ok());
  EXPECT_EQ(kind, 'W');
  // Nothing sent yet: the deadline passes without error.
  auto none = (*conn)->ReadMessage(absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE((*conn)->SendCopyData("r-status").ok());
  auto k1 = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(k1.ok() && k1->has_value());
  EXPECT_EQ((*k1)->body, "k1");
  EXPECT_TRUE((*conn)->HasBufferedMessage());
  auto k2 = (*conn)->ReadMessage(absl::InfinitePast());
  ASSERT_TRUE(k2.ok() && k2->has_value());
  EXPECT_EQ((*k2)->body, "k2");
  ASSERT_TRUE((*conn)->SendCopyDone().ok());
  auto err = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(err.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(err.status().message(), HasSubstr("corrupt"));
}

TEST(ConnectionTest, CopyDataOverItsCapIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(CopyResp('W') + std::string("d") + I32(1 << 20));
    p.ReadTyped();
  });
  ConnectionOptions options = TestOptions();
  options.limits.max_copy_data = 1024;
  auto conn = ConnectTo(server.port(), "", options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 0;
  ASSERT_TRUE((*conn)->StartCopy("START_REPLICATION 0/0", &kind).ok());
  auto m = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*conn)->is_open());
}

TEST(ConnectionTest, QueryResultOverByteCapIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    std::string rows = RowDesc({"a"});
    for (int i = 0; i < 100; ++i) rows += Row({std::string(100, 'x')});
    p.Send(rows);
    p.ReadTyped();
  });
  ConnectionOptions options = TestOptions();
  options.max_result_bytes = 4096;
  auto conn = ConnectTo(server.port(), "", options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->Query("SELECT").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace walrep
