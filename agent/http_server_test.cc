#include "agent/http_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST(HttpServerTest, RefusesBadListenAddress) {
  HttpServer server([](const std::string&) { return HttpResponse{}; });
  EXPECT_FALSE(server.Start("no-port").ok());
}

}  // namespace
}  // namespace walrep
