#include "agent/http_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string Fetch(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

TEST(HttpServerTest, ServesHandlerAndRejectsOthers) {
  std::string seen;
  HttpServer server([&](const std::string& path) {
    seen = path;
    if (path == "/metrics") return HttpResponse{200, "text/plain", "walrep_x 1\n"};
    return HttpResponse{404, "text/plain", "nope\n"};
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);
  std::string ok = Fetch(server.port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(seen, "/metrics");
  EXPECT_NE(ok.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(ok.find("Content-Length: 11"), std::string::npos);
  EXPECT_NE(ok.find("walrep_x 1\n"), std::string::npos);
  EXPECT_NE(Fetch(server.port(), "GET /other HTTP/1.1\r\n\r\n").find(" 404 "), std::string::npos);
  EXPECT_NE(Fetch(server.port(), "POST /metrics HTTP/1.1\r\n\r\n").find(" 405 "),
            std::string::npos);
  EXPECT_NE(Fetch(server.port(), "nonsense\r\n\r\n").find(" 400 "), std::string::npos);
  server.Stop();
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// Clients that hold their connections open with a partial request (slowloris) do not delay
// anyone else, and the connections are cut at the deadline.
TEST(HttpServerTest, SlowClientsDoNotDelayOthers) {
  HttpServer server([](const std::string&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.request_timeout_ms = 1000;
  ASSERT_TRUE(server.Start(options).ok());
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) {
    int fd = ConnectTo(server.port());
    ASSERT_EQ(write(fd, "GET /heal", 9), 9);
    slow.push_back(fd);
  }
  for (int i = 0; i < 20; ++i) {
    auto start = std::chrono::steady_clock::now();
    std::string r = Fetch(server.port(), "GET /healthz HTTP/1.1\r\n\r\n");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start).count();
    EXPECT_NE(r.find(" 200 "), std::string::npos);
    EXPECT_LT(ms, 100);
  }
  // The deadline ends each slow connection: read returns (EOF or an error answer).
  for (int fd : slow) {
    char buf[256];
    auto start = std::chrono::steady_clock::now();
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    close(fd);
  }
}

TEST(HttpServerTest, OversizedRequestIsRefused) {
  HttpServer server([](const std::string&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::string big = "GET /metrics HTTP/1.1\r\nX-Fill: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  std::string r = Fetch(server.port(), big);
  EXPECT_EQ(r.find(" 200 "), std::string::npos) << r.substr(0, 80);
  EXPECT_NE(Fetch(server.port(), "GET /x HTTP/1.1\r\n\r\n").find(" 200 "), std::string::npos);
}

TEST(HttpServerTest, ManyConcurrentClients) {
  HttpServer server([](const std::string&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (Fetch(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").find(" 200 ") !=
            std::string::npos) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1000);
}

TEST(HttpServerTest, RefusesBadListenAddress) {
  HttpServer server([](const std::string&) { return HttpResponse{}; });
  EXPECT_FALSE(server.Start("no-port").ok());
}

}  // namespace
}  // namespace walrep
