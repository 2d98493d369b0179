#include "tests/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace walrep::testing {
namespace {

// How often a pump re-checks the black-hole, cut and stop flags while idle.
constexpr int kPollMs = 50;

int ConnectTo(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Moves what is readable on `from` to `to`; false at EOF or error.
bool Forward(int from, int to) {
  char buf[64 << 10];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(const std::string& upstream_host,
                                                           int upstream_port) {
  std::unique_ptr<TcpProxy> p(new TcpProxy());
  p->upstream_host_ = upstream_host;
  p->upstream_port_ = upstream_port;
  p->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return absl::InternalError(std::strerror(errno));
  int one = 1;
  setsockopt(p->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(p->listen_fd_, 16) != 0 ||
      getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("proxy listen: ", std::strerror(errno)));
  }
  p->port_ = ntohs(addr.sin_port);
  p->accept_thread_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

TcpProxy::~TcpProxy() {
  stop_.store(true);
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::vector<std::thread> pumps;
  {
    absl::MutexLock lock(&mu_);
    pumps.swap(pumps_);
  }
  for (auto& t : pumps) t.join();
}

void TcpProxy::SetBlackHole(bool on) { black_hole_.store(on); }

void TcpProxy::CutAll() { generation_.fetch_add(1); }

void TcpProxy::AcceptLoop() {
  while (!stop_.load()) {
    pollfd p = {listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    {
      absl::MutexLock lock(&mu_);
      if (hold_) {
        accepted_.fetch_add(1);
        ++held_;
        pumps_.emplace_back([this, client] { HoldThenPump(client); });
        continue;
      }
    }
    int upstream = ConnectTo(upstream_host_, upstream_port_);
    if (upstream < 0) {
      close(client);
      continue;
    }
    accepted_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpProxy::SetHoldNew(bool on) {
  absl::MutexLock lock(&mu_);
  hold_ = on;
  if (!on) held_ = 0;
}

void TcpProxy::ReleaseHeld() {
  absl::MutexLock lock(&mu_);
  ++releases_;
  held_ = 0;  // at once, not when their threads wake: held() counts only later ones
}

int TcpProxy::held() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

void TcpProxy::HoldThenPump(int client) {
  {
    absl::MutexLock lock(&mu_);
    const uint64_t ticket = releases_;
    auto go = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !hold_ || releases_ != ticket || stop_.load();
    };
    while (!go()) mu_.AwaitWithTimeout(absl::Condition(&go), absl::Milliseconds(kPollMs));
  }
  if (stop_.load()) {
    close(client);
    return;
  }
  int upstream = ConnectTo(upstream_host_, upstream_port_);
  if (upstream < 0) {
    close(client);
    return;
  }
  Pump(client, upstream);
}

void TcpProxy::Pump(int client, int upstream) {
  const int generation = generation_.load();
  while (!stop_.load() && generation_.load() == generation) {
    if (black_hole_.load()) {
      // A partition: read nothing, so nothing passes and nobody sees an end.
      poll(nullptr, 0, kPollMs);
      continue;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (poll(fds, 2, kPollMs) <= 0) continue;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !Forward(client, upstream)) break;
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !Forward(upstream, client)) break;
  }
  close(client);
  close(upstream);
}

}  // namespace walrep::testing
