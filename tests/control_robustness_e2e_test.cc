// The control plane under abuse while the agent streams from a real primary: its /metrics
// passes `promtool check metrics`; malformed HTTP requests, a slowloris client, 1,000
// concurrent scrapes and oversized gRPC messages leave /healthz answering within 100 ms
// for everyone else and the stream untouched (no new session, new WAL still flushed).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/agent_process.h"
#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` and reads the answer until the server closes (bounded by 5 s).
std::string Exchange(int port, const std::string& request) {
  int fd = Connect(port);
  if (fd < 0) return "";
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[8192];
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, n);
  }
  close(fd);
  return out;
}

// One /healthz round trip; its latency in milliseconds, or -1 if it was not a 200.
double HealthzMs(int port) {
  auto start = Clock::now();
  std::string r = Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return r.find(" 200 ") != std::string::npos ? ms : -1;
}

class ControlRobustnessE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PgPrimary::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto agent = AgentProcess::Start({.data_dir = FreshTestDir("robust")});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    ASSERT_TRUE(StartReplica(*agent_, pg_->ReplConnInfo()).ok());
    ASSERT_TRUE(WaitFor([&] {
      auto p = GetProgress(*agent_);
      return p.ok() && p->stream_state() == walrep::v1::STREAM_STATE_STREAMING;
    }, absl::Seconds(20)));
    ASSERT_TRUE(pg_->Psql("CREATE TABLE t AS SELECT generate_series(1, 20000) AS x").ok());
    ASSERT_TRUE(CaughtUp(*agent_, *pg_, absl::Seconds(30)));
    auto p = GetProgress(*agent_);
    ASSERT_TRUE(p.ok());
    sessions_ = p->metrics().sessions_started();
  }

  // The stream survived: same session, still streaming, and new WAL is flushed.
  void ExpectStillStreaming() {
    ASSERT_TRUE(pg_->Psql("INSERT INTO t SELECT generate_series(1, 5000)").ok());
    EXPECT_TRUE(CaughtUp(*agent_, *pg_, absl::Seconds(30)));
    auto p = GetProgress(*agent_);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->stream_state(), walrep::v1::STREAM_STATE_STREAMING);
    EXPECT_EQ(p->metrics().sessions_started(), sessions_);
  }

  std::unique_ptr<PgPrimary> pg_;
  std::unique_ptr<AgentProcess> agent_;
  uint64_t sessions_ = 0;
};

TEST_F(ControlRobustnessE2eTest, PromtoolAcceptsMetricsOfAStreamingAgent) {
  auto metrics = agent_->HttpGet("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string path = FreshTestDir("metrics") + ".txt";
  std::ofstream(path) << *metrics;
  auto check = RunShell("/usr/bin/promtool check metrics < " + ShellQuote(path) + " 2>&1");
  EXPECT_TRUE(check.ok()) << check.status() << "\n" << *metrics;
  // The histograms saw the stream's fsyncs and acknowledgements.
  for (const char* h : {"walrep_wal_fsync_duration_seconds_count ",
                        "walrep_ack_latency_seconds_count "}) {
    size_t at = metrics->find(h);
    ASSERT_NE(at, std::string::npos) << h;
    EXPECT_NE(metrics->substr(at + strlen(h), 2), "0\n") << h;
  }
  for (const char* s : {"walrep_build_info{version=", "process_cpu_seconds_total ",
                        "process_resident_memory_bytes ", "process_open_fds ",
                        "process_start_time_seconds ", "walrep_replay_lag_bytes ",
                        "walrep_replay_lag_seconds "}) {
    EXPECT_NE(metrics->find(s), std::string::npos) << s;
  }
  EXPECT_EQ(metrics->find("walrep_backup_bytes_total"), std::string::npos);
  auto ready = agent_->HttpGet("/readyz");
  EXPECT_TRUE(ready.ok()) << ready.status();
}

TEST_F(ControlRobustnessE2eTest, MalformedHttpRequestsAreRefusedAndHealthStaysFast) {
  const int port = agent_->metrics_port();
  const std::vector<std::string> bad = {
      "\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nabc",
      "GET /metrics HTTP/1.1\r\nX: " + std::string(256 << 10, 'a') + "\r\n\r\n",
      std::string("GET /\0metrics HTTP/1.1\r\n\r\n", 26),
      std::string(4096, '\xff'),
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello on plain HTTP
      "GET /../../etc/passwd HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n" + [] {
        std::string h;
        for (int i = 0; i < 2000; ++i) h += absl::StrCat("X-", i, ": y\r\n");
        return h;
      }() + "\r\n",
  };
  double worst = 0;
  for (const std::string& req : bad) {
    std::string r = Exchange(port, req);
    EXPECT_EQ(r.find("walrep_"), std::string::npos) << "served metrics to: " << req.substr(0, 40);
    double ms = HealthzMs(port);
    EXPECT_GE(ms, 0);
    worst = std::max(worst, ms);
  }
  EXPECT_LT(worst, 100);
  std::printf("healthz after malformed requests: worst %.1f ms\n", worst);
  ExpectStillStreaming();
}

TEST_F(ControlRobustnessE2eTest, SlowlorisDoesNotDelayHealthForOthers) {
  const int port = agent_->metrics_port();
  // One slow client with a few connections, each trickling a header byte at a time.
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, "GET /metrics HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    int n = 0;
    while (!stop.load()) {
      for (int& fd : slow) {
        if (fd >= 0 && send(fd, "X", 1, MSG_NOSIGNAL) != 1) {
          close(fd);  // cut at its deadline: the slow client reconnects, as a real one would
          fd = Connect(port);
          if (fd >= 0) (void)!send(fd, "GET /metrics HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
        }
      }
      ++n;
      // The attacker's pace (a byte per connection every 200 ms), not synchronisation.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  double worst = 0, total = 0;
  int answered = 0;
  auto until = Clock::now() + std::chrono::seconds(5);  // past the 2 s request deadline
  while (Clock::now() < until) {
    double ms = HealthzMs(port);
    ASSERT_GE(ms, 0);
    worst = std::max(worst, ms);
    total += ms;
    ++answered;
  }
  stop = true;
  trickler.join();
  for (int fd : slow) {
    if (fd >= 0) close(fd);
  }
  std::printf("healthz under slowloris: %d answered, mean %.2f ms, worst %.1f ms\n", answered,
              total / answered, worst);
  EXPECT_LT(worst, 100);
  ExpectStillStreaming();
}

TEST_F(ControlRobustnessE2eTest, ThousandConcurrentScrapes) {
  const int port = agent_->metrics_port();
  std::atomic<int> ok{0};
  std::atomic<int> empty{0};  // refused, reset, or nothing within 5 s
  absl::Mutex mu;
  std::string other;  // the first answer that was not a 200 with metrics
  std::atomic<bool> done{false};
  double worst = 0;
  std::thread prober([&] {
    while (!done.load()) worst = std::max(worst, HealthzMs(port));
  });
  // 1,000 scrapers released at once, each with its own connection.
  absl::Notification go;
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 1000; ++t) {
    scrapers.emplace_back([&] {
      go.WaitForNotification();
      std::string r = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      if (r.find(" 200 ") != std::string::npos && r.find("walrep_healthy") != std::string::npos) {
        ++ok;
      } else if (r.empty()) {
        ++empty;
      } else {
        absl::MutexLock l(&mu);
        if (other.empty()) other = r.substr(0, r.find("\r\n"));
      }
    });
  }
  auto herd_start = Clock::now();
  go.Notify();
  for (auto& t : scrapers) t.join();
  double herd_ms = std::chrono::duration<double, std::milli>(Clock::now() - herd_start).count();
  done = true;
  prober.join();
  std::printf("1000 simultaneous scrapes: %d answered in %.0f ms, healthz worst %.1f ms\n",
              ok.load(), herd_ms, worst);
  EXPECT_EQ(ok.load(), 1000) << empty.load() << " got no answer; first other answer: " << other;
  EXPECT_LT(worst, 100);
  ExpectStillStreaming();
}

TEST_F(ControlRobustnessE2eTest, OversizedAndGarbageGrpcInputs) {
  // A 16 MiB request is over gRPC's receive limit: refused, nothing else happens.
  walrep::v1::StartReplicaRequest big;
  big.set_conninfo(std::string(16 << 20, 'a'));
  walrep::v1::StartReplicaResponse resp;
  auto ctx = agent_->Context();
  grpc::Status st = agent_->stub()->StartReplica(ctx.get(), big, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  // Just under the limit: a validation error, not a re-point.
  big.set_conninfo(std::string(3 << 20, 'a'));
  auto ctx2 = agent_->Context();
  st = agent_->stub()->StartReplica(ctx2.get(), big, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(st.error_message().size(), 4096u);
  // HTTP/1 and garbage bytes on the gRPC port.
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\n\r\n"), std::string(1 << 16, '\0'),
        std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(1000, '\xff')}) {
    (void)Exchange(agent_->grpc_port(), junk);
  }
  EXPECT_GE(HealthzMs(agent_->metrics_port()), 0);
  ExpectStillStreaming();
}

}  // namespace
}  // namespace walrep::testing
