// The control API's transport security against the real daemon: TLS with the test CA,
// mTLS (no client certificate, one from another CA, one whose name is not allowed: all
// refused; the allowed one succeeds), HTTPS for /metrics with the same certificate, a Unix
// socket created 0600, a token file re-read when rotated, and the audit line of every
// mutating call.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/tls_certs.h"

namespace walrep::testing {
namespace {

using walrep::v1::GetProgressRequest;
using walrep::v1::GetProgressResponse;

grpc::Status Call(walrep::v1::ReplicationAgent::Stub* stub, const std::string& token = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  GetProgressResponse resp;
  return stub->GetProgress(&ctx, GetProgressRequest(), &resp);
}

// walrepctl from the test's runfiles with `args`; its exit status and output.
std::pair<int, std::string> Walrepctl(const std::string& args) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  std::string bin = absl::StrCat(srcdir ? srcdir : ".", "/", ws ? ws : "walrep",
                                 "/tools/walrepctl/walrepctl");
  std::string out;
  FILE* f = popen((bin + " " + args + " 2>&1").c_str(), "r");
  if (f == nullptr) return {-1, ""};
  char buf[512];
  while (fgets(buf, sizeof(buf), f)) out += buf;
  int rc = pclose(f);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::vector<std::string> TlsFlags(const TestCerts& c) {
  return {"--grpc_tls_cert=" + c.Path("server.crt"), "--grpc_tls_key=" + c.Path("server.key")};
}

TEST(GrpcTlsE2eTest, TlsServesTrustedClientsAndNotPlaintext) {
  auto certs = GenerateTestCerts(FreshTestDir("tls-certs"));
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto flags = TlsFlags(*certs);
  flags.push_back("--metrics_tls");
  auto agent = AgentProcess::Start(
      {.data_dir = FreshTestDir("tls"), .extra_flags = flags, .credentials = certs->Channel()});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE(Call((*agent)->stub()).ok());
  // Plaintext HTTP/2 against the TLS port fails.
  auto plain = (*agent)->NewStub(grpc::InsecureChannelCredentials());
  EXPECT_EQ(Call(plain.get()).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A client that does not trust the server's CA is refused in the handshake.
  grpc::SslCredentialsOptions untrusting;
  untrusting.pem_root_certs = ReadFileOrEmpty(certs->Path("other_ca.crt"));
  auto wrong_ca = (*agent)->NewStub(grpc::SslCredentials(untrusting));
  EXPECT_EQ(Call(wrong_ca.get()).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The HTTP endpoint speaks HTTPS with the same certificate, and no plaintext.
  for (const char* path : {"/healthz", "/metrics"}) {
    auto https = RunShell(absl::StrCat("curl -sS --max-time 5 --cacert ",
                                       ShellQuote(certs->Path("ca.crt")), " https://127.0.0.1:",
                                       (*agent)->metrics_port(), path));
    ASSERT_TRUE(https.ok()) << https.status();
    EXPECT_NE(https->find(std::string(path) == "/healthz" ? "ok" : "walrep_healthy"),
              std::string::npos)
        << *https;
  }
  EXPECT_FALSE((*agent)->HttpGet("/healthz").ok());
  EXPECT_FALSE(RunShell(absl::StrCat("curl -sS --max-time 5 --cacert ",
                                     ShellQuote(certs->Path("other_ca.crt")),
                                     " https://127.0.0.1:", (*agent)->metrics_port(), "/healthz"))
                   .ok());
}

TEST(GrpcTlsE2eTest, MutualTlsRequiresAnAllowedClientCertificate) {
  auto certs = GenerateTestCerts(FreshTestDir("mtls-certs"));
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto flags = TlsFlags(*certs);
  flags.push_back("--grpc_client_ca=" + certs->Path("ca.crt"));
  flags.push_back("--grpc_allowed_clients=ops.example,someone-else");
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("mtls"),
                                    .extra_flags = flags,
                                    .credentials = certs->Channel("ops")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE(Call((*agent)->stub()).ok());

  // No client certificate, or one from another CA: the handshake fails.
  auto anonymous = (*agent)->NewStub(certs->Channel());
  grpc::Status st = Call(anonymous.get());
  EXPECT_TRUE(st.error_code() == grpc::StatusCode::UNAVAILABLE ||
              st.error_code() == grpc::StatusCode::UNAUTHENTICATED)
      << st.error_code() << " " << st.error_message();
  auto stranger = (*agent)->NewStub(certs->Channel("stranger"));
  st = Call(stranger.get());
  EXPECT_TRUE(st.error_code() == grpc::StatusCode::UNAVAILABLE ||
              st.error_code() == grpc::StatusCode::UNAUTHENTICATED)
      << st.error_code() << " " << st.error_message();
  // The CLI: without a client certificate refused, with one answered.
  const std::string addr = absl::StrCat("--addr=127.0.0.1:", (*agent)->grpc_port(),
                                        " --timeout=5s --tls_ca=", certs->Path("ca.crt"));
  auto [rc, out] = Walrepctl(addr + " status");
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(out.find("UNAVAILABLE") != std::string::npos ||
              out.find("UNAUTHENTICATED") != std::string::npos ||
              out.find("code 14") != std::string::npos)
      << out;
  std::tie(rc, out) = Walrepctl(addr + " --tls_cert=" + certs->Path("ops.crt") +
                                " --tls_key=" + certs->Path("ops.key") + " status");
  EXPECT_EQ(rc, 0) << out;

  // Signed by the CA but not on the list.
  auto intruder = (*agent)->NewStub(certs->Channel("intruder"));
  EXPECT_EQ(Call(intruder.get()).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Every mutating call is audited once, with the caller's certificate subject, whatever
  // its outcome.
  walrep::v1::PromoteResponse presp;
  {
    grpc::ClientContext ctx;
    (void)(*agent)->stub()->Promote(&ctx, walrep::v1::PromoteRequest(), &presp);
  }
  {
    grpc::ClientContext ctx;
    (void)intruder->Promote(&ctx, walrep::v1::PromoteRequest(), &presp);
  }
  {
    grpc::ClientContext ctx;
    walrep::v1::StopReplicaResponse sresp;
    (void)(*agent)->stub()->StopReplica(&ctx, walrep::v1::StopReplicaRequest(), &sresp);
  }
  ASSERT_TRUE(WaitFor([&] {
    std::string log = (*agent)->ReadLog();
    return log.find("StopReplica by ") != std::string::npos;
  }, absl::Seconds(5)));
  int promote_lines = 0;
  for (absl::string_view line : absl::StrSplit((*agent)->ReadLog(), '\n')) {
    if (line.find("[audit]") == absl::string_view::npos) continue;
    if (line.find("Promote by ") != absl::string_view::npos) {
      ++promote_lines;
      EXPECT_NE(line.find("ipv4:127.0.0.1:"), absl::string_view::npos) << line;
      EXPECT_TRUE(line.find("CN=ops") != absl::string_view::npos ||
                  line.find("CN=intruder") != absl::string_view::npos)
          << line;
      if (line.find("CN=intruder") != absl::string_view::npos) {
        EXPECT_NE(line.find("PERMISSION_DENIED"), absl::string_view::npos) << line;
      }
    }
  }
  EXPECT_EQ(promote_lines, 2) << (*agent)->ReadLog();
}

// cert-manager style rotation: the certificate and key files are replaced in place (by
// rename) with ones from a new CA; without a restart the agent serves the new certificate.
TEST(GrpcTlsE2eTest, RotatedCertificateIsServedWithoutRestart) {
  auto old_certs = GenerateTestCerts(FreshTestDir("rot-old"));
  auto new_certs = GenerateTestCerts(FreshTestDir("rot-new"));
  ASSERT_TRUE(old_certs.ok() && new_certs.ok());
  const std::string live = FreshTestDir("rot-live");
  auto install = [&](const TestCerts& from) {
    return RunShell(absl::StrCat("mkdir -p ", ShellQuote(live), " && cp ",
                                 ShellQuote(from.Path("server.crt")), " ", ShellQuote(live),
                                 "/tls.crt.new && cp ", ShellQuote(from.Path("server.key")), " ",
                                 ShellQuote(live), "/tls.key.new && mv ", ShellQuote(live),
                                 "/tls.key.new ", ShellQuote(live), "/tls.key && mv ",
                                 ShellQuote(live), "/tls.crt.new ", ShellQuote(live), "/tls.crt"));
  };
  ASSERT_TRUE(install(*old_certs).ok());
  auto agent = AgentProcess::Start(
      {.data_dir = FreshTestDir("rot-agent"),
       .extra_flags = {"--grpc_tls_cert=" + live + "/tls.crt", "--grpc_tls_key=" + live + "/tls.key",
                       "--grpc_tls_reload_seconds=1"},
       .credentials = old_certs->Channel()});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE(Call((*agent)->stub()).ok());
  auto trusting_new = [&] { return (*agent)->NewStub(new_certs->Channel()); };
  EXPECT_EQ(Call(trusting_new().get()).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(install(*new_certs).ok());
  EXPECT_TRUE(WaitFor([&] { return Call(trusting_new().get()).ok(); }, absl::Seconds(15)));
  EXPECT_EQ(Call((*agent)->NewStub(old_certs->Channel()).get()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(GrpcTlsE2eTest, UnixSocketIsPrivate) {
  // A short path: sun_path holds 107 bytes, less than the test's temp directory needs.
  char dir[] = "/tmp/walrep-sock.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string sock = std::string(dir) + "/agent.sock";
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("unix"), .unix_socket = sock});
  ASSERT_TRUE(agent.ok()) << agent.status();
  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_TRUE(Call((*agent)->stub()).ok());
  // Alive but not ready: no role, no stream.
  EXPECT_TRUE((*agent)->HttpGet("/healthz").ok());
  auto ready = (*agent)->HttpGet("/readyz");
  EXPECT_FALSE(ready.ok());
  EXPECT_NE(ready.status().message().find(" 503 "), std::string::npos) << ready.status();
  agent->reset();
  (void)RunShell(absl::StrCat("rm -rf ", ShellQuote(dir)));
}

TEST(GrpcTlsE2eTest, TokenFileIsRereadWhenRotated) {
  std::string token_file = FreshTestDir("rot-token");
  auto write = [&](const std::string& token) {
    { std::ofstream(token_file + ".tmp") << token << "\n"; }
    chmod((token_file + ".tmp").c_str(), 0600);
    rename((token_file + ".tmp").c_str(), token_file.c_str());
  };
  write("old-token");
  auto agent = AgentProcess::Start({.data_dir = FreshTestDir("rot"),
                                    .extra_flags = {"--auth_token_file=" + token_file},
                                    .token = "old-token"});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE(Call((*agent)->stub(), "old-token").ok());
  write("new-token");
  EXPECT_EQ(Call((*agent)->stub(), "old-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call((*agent)->stub(), "new-token").ok());
  // The audit trail names a matched token as the caller, and a refused one as nobody.
  for (const std::string& token : {std::string("new-token"), std::string("old-token")}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    walrep::v1::StopReplicaResponse resp;
    (void)(*agent)->stub()->StopReplica(&ctx, walrep::v1::StopReplicaRequest(), &resp);
  }
  ASSERT_TRUE(WaitFor([&] {
    std::string log = (*agent)->ReadLog();
    return log.find("StopReplica by ipv4:127.0.0.1:") != std::string::npos &&
           log.find(" as none: {} -> UNAUTHENTICATED") != std::string::npos;
  }, absl::Seconds(5))) << (*agent)->ReadLog();
  EXPECT_NE((*agent)->ReadLog().find(" as token: {} -> "), std::string::npos);
  EXPECT_EQ((*agent)->ReadLog().find("new-token"), std::string::npos);
}

TEST(GrpcTlsE2eTest, TlsFilesAreCheckedAtStart) {
  auto certs = GenerateTestCerts(FreshTestDir("bad-certs"));
  ASSERT_TRUE(certs.ok());
  auto r = RunAgentToExit({"--data_dir=" + FreshTestDir("bad"), "--metrics_listen=",
                           "--grpc_tls_cert=" + certs->Path("server.key"),
                           "--grpc_tls_key=" + certs->Path("server.key")},
                          absl::Seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(WEXITSTATUS(r->first), 0);
  EXPECT_NE(r->second.find("--grpc_tls_cert"), std::string::npos) << r->second;
}

}  // namespace
}  // namespace walrep::testing
