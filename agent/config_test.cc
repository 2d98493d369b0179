#include "agent/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(ConfigTest, LoopbackDetection) {
  EXPECT_TRUE(IsLoopbackListenAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackListenAddress("127.8.9.10:1"));
  EXPECT_TRUE(IsLoopbackListenAddress("localhost:50051"));
  EXPECT_TRUE(IsLoopbackListenAddress("[::1]:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("10.0.0.5:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("example.com:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("garbage"));
}

TEST(ConfigTest, RefusesNonLoopbackWithoutTlsAndAuthentication) {
  AgentConfig c;
  c.data_dir = "/tmp/walrep-x";
  c.grpc_listen = "0.0.0.0:50051";
  absl::Status st = ValidateConfig(&c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--grpc_tls_cert"), std::string::npos);
  c.auth_token_file = "/some/file";  // a token alone is not enough
  st = ValidateConfig(&c);
  EXPECT_NE(st.message().find("--grpc_tls_key"), std::string::npos) << st;
  c.grpc_tls_cert = "/etc/hostname";  // any readable file: contents are checked at start
  c.grpc_tls_key = "/etc/hostname";
  EXPECT_TRUE(ValidateConfig(&c).ok());
  c.auth_token_file.clear();
  st = ValidateConfig(&c);
  EXPECT_NE(st.message().find("--grpc_client_ca"), std::string::npos) << st;
  c.grpc_client_ca = "/etc/hostname";
  EXPECT_TRUE(ValidateConfig(&c).ok());
}

TEST(ConfigTest, TlsFlagsGoTogether) {
  AgentConfig c;
  c.data_dir = "/tmp/walrep-x";
  c.grpc_tls_cert = "/etc/hostname";
  EXPECT_FALSE(ValidateConfig(&c).ok());
  c.grpc_tls_cert.clear();
  c.grpc_client_ca = "/etc/hostname";
  EXPECT_FALSE(ValidateConfig(&c).ok());
  c.grpc_client_ca.clear();
  c.grpc_allowed_clients = {"ops"};
  EXPECT_FALSE(ValidateConfig(&c).ok());
  c.grpc_allowed_clients.clear();
  c.grpc_listen = "unix:/tmp/walrep.sock";
  EXPECT_TRUE(ValidateConfig(&c).ok());
  c.grpc_listen = "unix:relative.sock";
  EXPECT_FALSE(ValidateConfig(&c).ok());
}

TEST(ConfigTest, RequiresDataDirAndMakesItAbsolute) {
  AgentConfig c;
  EXPECT_EQ(ValidateConfig(&c).code(), absl::StatusCode::kInvalidArgument);
  c.data_dir = "relative/dir";
  ASSERT_TRUE(ValidateConfig(&c).ok());
  EXPECT_EQ(c.data_dir[0], '/');
}

TEST(ConfigTest, RejectsMalformedAddressesAndEnums) {
  AgentConfig c;
  c.data_dir = "/d";
  c.grpc_listen = "127.0.0.1";
  EXPECT_FALSE(ValidateConfig(&c).ok());
  c.grpc_listen = "127.0.0.1:99999";
  EXPECT_FALSE(ValidateConfig(&c).ok());
  c.grpc_listen = "127.0.0.1:1";
  c.log_format = "xml";
  EXPECT_FALSE(ValidateConfig(&c).ok());
  EXPECT_FALSE(ParseEngine("mysql").ok());
  EXPECT_EQ(*ParseEngine("postgres"), Engine::kPostgres);
}

TEST(ConfigTest, TokenFileMustBePrivate) {
  std::string path = ::testing::TempDir() + "/token";
  { std::ofstream(path) << "  abc123\n"; }
  chmod(path.c_str(), 0644);
  EXPECT_EQ(ReadAuthToken(path).status().code(), absl::StatusCode::kInvalidArgument);
  chmod(path.c_str(), 0600);
  auto token = ReadAuthToken(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "abc123");
  { std::ofstream(path) << "\n"; }
  EXPECT_FALSE(ReadAuthToken(path).ok());
  EXPECT_FALSE(ReadAuthToken(path + ".missing").ok());
}

}  // namespace
}  // namespace walrep
