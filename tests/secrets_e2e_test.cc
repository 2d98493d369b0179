// No password, sslpassword or bearer token ever leaves the agent: the replication role's
// password holds %, a single and a double quote and a backslash, and is fed through every
// RPC in well-formed and malformed keyword/value and URI conninfos (bad escapes, unbalanced
// quotes and brackets, bad values beside it). The agent's whole log (at debug level), every
// reply and error, /metrics and GetProgress/WatchProgress are then searched for the secret
// in each of its spellings.
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

// Distinctive cores: any spelling of the password or token contains one of these.
constexpr const char* kPasswordCore = "Zq9";
const std::string kPassword = "Zq9%t'p\\x\"w";   // Zq9%t'p\x"w
const std::string kPasswordUri = "Zq9%25t%27p%5Cx%22w";
const std::string kToken = "tok-Vv7-secret";

std::string KvQuoted(const std::string& v) {
  return "'" + absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"'", "\\'"}}) + "'";
}

TEST(SecretsE2eTest, NoSecretInLogsRepliesOrMetrics) {
  auto pg = PgPrimary::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Psql(absl::StrCat("ALTER ROLE ", PgPrimary::kReplUser, " PASSWORD $pw$",
                                       kPassword, "$pw$")).ok());
  std::string token_file = FreshTestDir("secret-token");
  { std::ofstream(token_file) << kToken << "\n"; }
  chmod(token_file.c_str(), 0600);
  const std::string data_dir = FreshTestDir("secrets");
  auto agent = AgentProcess::Start(
      {.data_dir = data_dir,
       .extra_flags = {"--auth_token_file=" + token_file, "--log_level=debug"},
       .token = kToken});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string hp = absl::StrCat("127.0.0.1:", (*pg)->port());
  const std::string kv_base = absl::StrCat("host=127.0.0.1 port=", (*pg)->port(), " user=",
                                           PgPrimary::kReplUser, " sslmode=disable");
  const std::string good_kv = kv_base + " password=" + KvQuoted(kPassword);
  const std::string good_uri = absl::StrCat("postgresql://", PgPrimary::kReplUser, ":",
                                            kPasswordUri, "@", hp, "/?sslmode=disable");

  std::string replies;  // everything the agent answered
  auto start = [&](const std::string& conninfo) {
    walrep::v1::StartReplicaRequest req;
    req.set_conninfo(conninfo);
    req.mutable_status_interval()->set_seconds(1);
    walrep::v1::StartReplicaResponse resp;
    auto ctx = (*agent)->Context(absl::Seconds(20));
    grpc::Status st = (*agent)->stub()->StartReplica(ctx.get(), req, &resp);
    absl::StrAppend(&replies, st.error_message(), "\n", st.error_details(), "\n",
                    resp.DebugString());
    return st;
  };
  auto backup = [&](const std::string& conninfo) {
    walrep::v1::FetchBaseBackupRequest req;
    req.set_conninfo(conninfo);
    req.set_target_dir(FreshTestDir("secret-backup"));
    auto ctx = (*agent)->Context(absl::Seconds(30));
    auto reader = (*agent)->stub()->FetchBaseBackup(ctx.get(), req);
    walrep::v1::FetchBaseBackupResponse msg;
    while (reader->Read(&msg)) absl::StrAppend(&replies, msg.DebugString());
    grpc::Status st = reader->Finish();
    absl::StrAppend(&replies, st.error_message(), "\n", st.error_details(), "\n");
  };
  auto progress = [&] {
    auto p = GetProgress(**agent);
    if (p.ok()) absl::StrAppend(&replies, p->DebugString());
    return p;
  };

  // Well-formed, both spellings: the password is right, so each streams.
  uint64_t sessions = 0;
  for (const std::string& good : {good_kv, good_uri}) {
    ASSERT_TRUE(start(good).ok()) << good;
    // A new session (the URI re-points) that streams: the password was right.
    ASSERT_TRUE(WaitFor([&] {
      auto p = progress();
      return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING &&
             p->metrics().sessions_started() > sessions;
    }, absl::Seconds(20))) << good;
    sessions = progress()->metrics().sessions_started();
    ASSERT_TRUE((*pg)->Psql("SELECT pg_switch_wal()").ok());
  }
  // Malformed or invalid, the password inside.
  const std::vector<std::string> bad = {
      absl::StrCat("postgresql://", PgPrimary::kReplUser, ":", kPassword, "@", hp, "/"),
      absl::StrCat("postgresql://", PgPrimary::kReplUser, ":", kPasswordUri, "@[::1:5432/"),
      absl::StrCat("postgresql://", PgPrimary::kReplUser, ":", kPasswordUri, "@", hp,
                   "/?sslmode=bogus"),
      absl::StrCat("postgresql://", hp, "/?password=", kPassword, "&sslmode=disable"),
      absl::StrCat("postgresql://", hp, "/?password=", kPasswordUri, "&x"),
      absl::StrCat("postgresql://", hp, "/?sslpassword=", kPasswordUri, "&port=abc"),
      absl::StrCat("postgresql://", hp, "/?password=", kPasswordUri, "=x"),
      kv_base + " password=" + KvQuoted(kPassword).substr(0, 8),  // unterminated quote
      kv_base + " password=" + KvQuoted(kPassword) + " port=abc",
      kv_base + " password=" + KvQuoted(kPassword) + " no_such_key=1",
      kv_base + " sslpassword=" + KvQuoted(kPassword) + " sslmode=bogus",
      kv_base + " password=" + KvQuoted(kPassword + "-wrong"),  // authentication fails
      kv_base + " password = " + KvQuoted(kPassword) + " =",
  };
  for (const std::string& b : bad) {
    (void)start(b);
    backup(b);
  }
  backup(good_kv);
  // Back to a good stream, then the other mutating calls.
  ASSERT_TRUE(start(good_kv).ok());
  {
    walrep::v1::PromoteRequest req;
    req.mutable_apply_timeout()->set_seconds(1);
    walrep::v1::PromoteResponse resp;
    auto ctx = (*agent)->Context();
    grpc::Status st = (*agent)->stub()->Promote(ctx.get(), req, &resp);
    absl::StrAppend(&replies, st.error_message(), resp.DebugString());
  }
  {
    walrep::v1::StopReplicaResponse resp;
    auto ctx = (*agent)->Context();
    grpc::Status st = (*agent)->stub()->StopReplica(ctx.get(), {}, &resp);
    absl::StrAppend(&replies, st.error_message(), resp.DebugString());
  }
  {
    auto ctx = (*agent)->Context(absl::Seconds(5));
    auto reader = (*agent)->stub()->WatchProgress(ctx.get(), {});
    walrep::v1::WatchProgressResponse msg;
    if (reader->Read(&msg)) absl::StrAppend(&replies, msg.DebugString());
    ctx->TryCancel();
    (void)reader->Finish();
  }
  // A wrong token is refused without echoing what was sent.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + kToken + "x");
    walrep::v1::GetProgressResponse resp;
    grpc::Status st = (*agent)->stub()->GetProgress(&ctx, {}, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    absl::StrAppend(&replies, st.error_message());
  }
  (void)progress();
  auto metrics = (*agent)->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok());
  const std::string log = (*agent)->ReadLog();
  // Every call reached the agent and was audited once: 2 + 13 + 1 StartReplica, 14
  // FetchBaseBackup, a Promote and a StopReplica.
  auto count = [&](const std::string& what) {
    int n = 0;
    for (size_t at = 0; (at = log.find(what, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  EXPECT_EQ(count("[audit] StartReplica by "), 16) << log;
  EXPECT_EQ(count("[audit] FetchBaseBackup by "), 14) << log;
  EXPECT_EQ(count("[audit] Promote by "), 1) << log;
  EXPECT_EQ(count("[audit] StopReplica by "), 1) << log;
  EXPECT_GT(count("<malformed conninfo, "), 0) << log;
  EXPECT_GT(count("password=********"), 0) << log;

  for (const auto& [what, text] : std::vector<std::pair<std::string, std::string>>{
           {"log", log}, {"replies", replies}, {"metrics", *metrics}}) {
    for (const std::string& secret : {std::string(kPasswordCore), kPasswordUri, kToken,
                                      std::string("tok-Vv7")}) {
      size_t at = text.find(secret);
      EXPECT_EQ(at, std::string::npos)
          << secret << " in " << what << ": ..."
          << text.substr(at == std::string::npos ? 0 : (at > 200 ? at - 200 : 0), 400);
    }
  }
}

}  // namespace
}  // namespace walrep::testing
