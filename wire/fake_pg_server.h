// A scripted fake PostgreSQL server for PgConnection's unit tests: a listener on
// 127.0.0.1:0 and one thread per test playing the server side of one connection, plus
// builders for backend messages. Test-only; each FakeServer is used from one test thread
// (the script runs on its own thread and touches only what the test hands it).
#ifndef WALREP_WIRE_FAKE_PG_SERVER_H_
#define WALREP_WIRE_FAKE_PG_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "wire/bytes.h"
#include "wire/connection.h"
#include "wire/framing.h"

namespace walrep::fake_pg {

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
  // Whether the client has left — closed its end, or sent Terminate ('X', the last thing a
  // client sends) — looking at what is unread without waiting or consuming anything.
  bool ClientLeft() {
    char c;
    const ssize_t r = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r == 1 && c == 'X');
  }

 private:
  int fd_;
};

// A listening socket on 127.0.0.1 with a port the kernel picks; returns the fd.
inline int ListenOnLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

class FakeServer {
 public:
  FakeServer() { listen_fd_ = ListenOnLoopback(&port_); }
  ~FakeServer() {
    Join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  void Run(std::function<void(Peer&)> script) { Run(std::vector{std::move(script)}); }
  // One script per connection, in the order the client connects.
  void Run(std::vector<std::function<void(Peer&)>> scripts) {
    thread_ = std::thread([this, scripts = std::move(scripts)] {
      for (const auto& script : scripts) {
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        Peer peer(fd);
        script(peer);
      }
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
inline std::string I32(int32_t v) {
  std::string s;
  ByteWriter(&s).PutI32(v);
  return s;
}
inline std::string I16(int16_t v) {
  std::string s;
  ByteWriter(&s).PutI16(v);
  return s;
}
inline std::string Z(char c) { return std::string(1, c) + '\0'; }
inline std::string Auth(int32_t code, const std::string& extra = "") {
  return EncodeFrame('R', I32(code) + extra);
}
inline std::string Param(const std::string& name, const std::string& value) {
  return EncodeFrame('S', name + '\0' + value + '\0');
}
inline std::string KeyData(int32_t pid) { return EncodeFrame('K', I32(pid) + I32(0x1234)); }
inline std::string Ready() { return EncodeFrame('Z', "I"); }
inline std::string Fields(char type, const std::string& severity, const std::string& sqlstate,
                          const std::string& message) {
  return EncodeFrame(type, "S" + severity + '\0' + "V" + severity + '\0' + "C" + sqlstate + '\0' +
                               "M" + message + '\0' + '\0');
}
inline std::string RowDesc(const std::vector<std::string>& names) {
  std::string b = I16(static_cast<int16_t>(names.size()));
  for (const auto& n : names)
    b += n + '\0' + I32(0) + I16(0) + I32(25) + I16(-1) + I32(-1) + I16(0);
  return EncodeFrame('T', b);
}
inline std::string Row(const std::vector<std::optional<std::string>>& values) {
  std::string b = I16(static_cast<int16_t>(values.size()));
  for (const auto& v : values)
    b += v.has_value() ? I32(static_cast<int32_t>(v->size())) + *v : I32(-1);
  return EncodeFrame('D', b);
}
inline std::string Complete(const std::string& tag) { return EncodeFrame('C', tag + '\0'); }
inline std::string CopyResp(char type) { return EncodeFrame(type, std::string(1, '\0') + I16(0)); }

// Startup through ReadyForQuery with trust authentication; the startup params land in
// *params when given.
inline void TrustHandshake(Peer& p, std::map<std::string, std::string>* params = nullptr) {
  auto startup = p.ReadStartup();
  ASSERT_TRUE(startup.has_value());
  if (params != nullptr) *params = *startup;
  p.Send(Auth(0) + Param("server_version", "15.4 (Debian 15.4-1)") +
         Fields('N', "NOTICE", "00000", "hello") + KeyData(4242) + Ready());
}

inline ConnectionOptions TestOptions() {
  ConnectionOptions o;
  o.env = Environment{};
  o.env.os_user = "tester";
  o.io_timeout = absl::Seconds(5);
  return o;
}

inline absl::StatusOr<std::unique_ptr<PgConnection>> ConnectTo(
    int port, const std::string& extra = "", ConnectionOptions options = TestOptions()) {
  auto info = ConnInfo::Parse(
      absl::StrCat("host=127.0.0.1 port=", port, " user=rep password=pw sslmode=disable ", extra));
  if (!info.ok()) return info.status();
  return PgConnection::Connect(*info, options);
}

}  // namespace walrep::fake_pg

#endif  // WALREP_WIRE_FAKE_PG_SERVER_H_
