// The daemon as a process, seen through its own C++ gRPC client: progress on a fresh data
// directory, health and reflection, /metrics, the bearer token, start-up refusals and
// signal shutdown.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using walrep::v1::GetProgressRequest;
using walrep::v1::GetProgressResponse;

std::string FreshDir(const std::string& name) {
  std::string dir = absl::StrCat(::testing::TempDir(), "/", name);
  (void)RunShell("rm -rf " + ShellQuote(dir));
  return dir;
}

TEST(AgentDaemonTest, FreshDataDirServesProgressHealthReflectionAndMetrics) {
  // A real primary is up alongside, as the agent will have in production.
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_EQ(*(*pg)->Psql("SELECT 1"), "1");

  auto agent = AgentProcess::Start({.data_dir = FreshDir("fresh")});
  ASSERT_TRUE(agent.ok()) << agent.status();

  GetProgressResponse resp;
  auto ctx = (*agent)->Context();
  ASSERT_TRUE((*agent)->stub()->GetProgress(ctx.get(), GetProgressRequest(), &resp).ok());
  EXPECT_EQ(resp.progress().role(), walrep::v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(resp.progress().stream_state(), walrep::v1::STREAM_STATE_STOPPED);
  EXPECT_EQ(resp.progress().flush_lsn(), 0u);

  auto health = grpc::health::v1::Health::NewStub((*agent)->channel());
  for (const char* service : {"", "walrep.v1.ReplicationAgent"}) {
    grpc::health::v1::HealthCheckRequest hreq;
    hreq.set_service(service);
    grpc::health::v1::HealthCheckResponse hresp;
    auto hctx = (*agent)->Context();
    ASSERT_TRUE(health->Check(hctx.get(), hreq, &hresp).ok()) << service;
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }

  // Reflection lists our service and the health service, so grpcurl/buf curl need no .proto.
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub((*agent)->channel());
  auto rctx = (*agent)->Context();
  auto stream = reflection->ServerReflectionInfo(rctx.get());
  grpc::reflection::v1alpha::ServerReflectionRequest rreq;
  rreq.set_list_services("");
  ASSERT_TRUE(stream->Write(rreq));
  grpc::reflection::v1alpha::ServerReflectionResponse rresp;
  ASSERT_TRUE(stream->Read(&rresp));
  std::set<std::string> names;
  for (const auto& s : rresp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("walrep.v1.ReplicationAgent"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));
  // ...and can describe the health service's schema.
  rreq.set_file_containing_symbol("grpc.health.v1.Health");
  ASSERT_TRUE(stream->Write(rreq));
  ASSERT_TRUE(stream->Read(&rresp));
  EXPECT_TRUE(rresp.has_file_descriptor_response()) << rresp.DebugString();
  stream->WritesDone();

  auto metrics = (*agent)->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("walrep_flush_lsn 0"), std::string::npos);
  EXPECT_NE(metrics->find("walrep_role{role=\"unspecified\"} 1"), std::string::npos);
  EXPECT_NE(metrics->find("walrep_stream_state{state=\"stopped\"} 1"), std::string::npos);

  absl::Time before = absl::Now();
  auto status = (*agent)->Signal(SIGTERM, absl::Seconds(5));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(AgentDaemonTest, SigintStopsWithExitZero) {
  auto agent = AgentProcess::Start({.data_dir = FreshDir("sigint")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto status = (*agent)->Signal(SIGINT, absl::Seconds(1));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST(AgentDaemonTest, BearerTokenIsRequiredWhenConfigured) {
  std::string token_file = FreshDir("token");
  { std::ofstream(token_file) << "tok-123\n"; }
  chmod(token_file.c_str(), 0600);
  auto agent = AgentProcess::Start({.data_dir = FreshDir("auth"),
                                    .extra_flags = {"--auth_token_file=" + token_file},
                                    .token = "tok-123"});
  ASSERT_TRUE(agent.ok()) << agent.status();

  GetProgressResponse resp;
  auto good = (*agent)->Context();
  EXPECT_TRUE((*agent)->stub()->GetProgress(good.get(), GetProgressRequest(), &resp).ok());

  grpc::ClientContext none;
  grpc::Status st = (*agent)->stub()->GetProgress(&none, GetProgressRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext wrong;
  wrong.AddMetadata("authorization", "Bearer tok-124");
  st = (*agent)->stub()->GetProgress(&wrong, GetProgressRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext promote;
  walrep::v1::PromoteResponse presp;
  st = (*agent)->stub()->Promote(&promote, walrep::v1::PromoteRequest(), &presp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A token alone is not enough off loopback: it would cross the network in clear.
TEST(AgentDaemonTest, RefusesNonLoopbackListenWithoutTls) {
  std::string token_file = FreshDir("open-token");
  { std::ofstream(token_file) << "tok-123\n"; }
  chmod(token_file.c_str(), 0600);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--auth_token_file=" + token_file}}) {
    std::vector<std::string> args = {"--data_dir=" + FreshDir("open"), "--grpc_listen=0.0.0.0:0",
                                     "--metrics_listen="};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = RunAgentToExit(args, absl::Seconds(10));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(WIFEXITED(result->first));
    EXPECT_NE(WEXITSTATUS(result->first), 0);
    EXPECT_NE(result->second.find("--grpc_tls_cert"), std::string::npos) << result->second;
    EXPECT_NE(result->second.find("--grpc_tls_key"), std::string::npos) << result->second;
  }
}

TEST(AgentDaemonTest, RefusesMissingDataDirAndUnknownEngine) {
  auto result = RunAgentToExit({}, absl::Seconds(10));
  ASSERT_TRUE(result.ok());
  EXPECT_NE(WEXITSTATUS(result->first), 0);
  EXPECT_NE(result->second.find("--data_dir is required"), std::string::npos) << result->second;
  result = RunAgentToExit({"--data_dir=/tmp/x", "--engine=mysql"}, absl::Seconds(10));
  ASSERT_TRUE(result.ok());
  EXPECT_NE(WEXITSTATUS(result->first), 0);
  EXPECT_NE(result->second.find("unknown --engine"), std::string::npos) << result->second;
}

}  // namespace
}  // namespace walrep::testing
