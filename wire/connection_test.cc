// PgConnection's connection establishment against a scripted fake server: startup
// parameters, each authentication method, SSL negotiation answers, endpoint fallback,
// and hostile or broken servers (oversized frames, unexpected messages, EOF, silence).
#include "wire/connection.h"

#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/backend_error.h"
#include "wire/fake_pg_server.h"
#include "wire/framing.h"
#include "wire/md5_auth.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using namespace ::walrep::fake_pg;  // NOLINT: test helpers

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

TEST(ConnectionTest, ErrorResponseToSslRequestIsReported) {
  FakeServer server;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(p.ReadUntyped().has_value());
    p.Send(Fields('E', "FATAL", "53300", "sorry, too many clients already"));
  });
  auto conn = ConnectTo(server.port(), "sslmode=require");
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr("too many clients"));
}

TEST(ConnectionTest, SslAllowRetriesWithSslRequestWhenPlainIsRejected) {
  FakeServer server;
  bool ssl_requested = false;
  server.Run({[&](Peer& p) {
                ASSERT_TRUE(p.ReadStartup().has_value());
                p.Send(Fields('E', "FATAL", "28000", "no pg_hba.conf entry, no encryption"));
              },
              [&](Peer& p) {
                auto req = p.ReadUntyped();
                ASSERT_TRUE(req.has_value());
                ssl_requested = req->first == 80877103u;
                p.Send("N");
                TrustHandshake(p);
              }});
  auto conn = ConnectTo(server.port(), "sslmode=allow");
  ASSERT_TRUE(conn.ok()) << conn.status();
  server.Join();
  EXPECT_TRUE(ssl_requested);
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

}  // namespace
}  // namespace walrep
