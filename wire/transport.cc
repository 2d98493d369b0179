#include "wire/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

absl::Status ClosedError() {
  return absl::UnavailableError("server closed the connection unexpectedly");
}

// Waits for `events` on fd, and for `cancel` to fire. OK(true): ready (or in error —
// the next I/O call reports it); OK(false): the deadline passed first; Cancelled: the
// token fired (checked first, so a busy socket cannot hide it).
// A fired `waker` (reads only) ends the wait like the deadline: OK(false); whenever a wait
// sees it fired (even beside a ready socket), *woken is set.
absl::StatusOr<bool> PollFd(int fd, short events, absl::Time deadline, const CancelToken* cancel,
                            const Waker* waker = nullptr, bool* woken = nullptr) {
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return CancelledByToken();
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        timeout_ms = 0;
      } else {
        // Round up so we never wake a hair early and spin.
        int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
        timeout_ms = static_cast<int>(std::min<int64_t>(ms, INT_MAX));
      }
    }
    // A negative fd is ignored by poll(2): unused slots cost nothing.
    struct pollfd p[3] = {{fd, events, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    if (cancel != nullptr) p[1].fd = cancel->fd();
    if (waker != nullptr) p[2].fd = waker->fd();
    int r = poll(p, 3, timeout_ms);
    if (r > 0) {
      if (p[2].revents != 0 && woken != nullptr) *woken = true;
      if (p[1].revents != 0) return CancelledByToken();
      if (p[0].revents != 0) return true;
      return false;  // the waker
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("poll() failed: ", std::strerror(errno)));
    }
    if (timeout_ms == 0 || absl::Now() >= deadline) return false;
  }
}

std::string AddressToString(const struct sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST] = {0};
  if (getnameinfo(addr, len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) {
    return "?";
  }
  return host;
}

// Non-blocking connect to one address, bounded by `deadline`. Returns the socket.
absl::StatusOr<int> ConnectOne(int family, const struct sockaddr* addr, socklen_t len,
                               absl::Time deadline, const CancelToken* cancel) {
  if (cancel != nullptr && cancel->cancelled()) return CancelledByToken();
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("could not create socket: ", std::strerror(errno)));
  }
  if (connect(fd, addr, len) == 0) return fd;
  if (errno != EINPROGRESS && errno != EINTR) {
    int e = errno;
    close(fd);
    return absl::UnavailableError(std::strerror(e));
  }
  absl::StatusOr<bool> ready = PollFd(fd, POLLOUT, deadline, cancel);
  if (!ready.ok() || !*ready) {
    close(fd);
    if (!ready.ok()) return ready.status();
    return absl::UnavailableError("timeout expired");
  }
  int err = 0;
  socklen_t err_len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
  if (err != 0) {
    close(fd);
    return absl::UnavailableError(std::strerror(err));
  }
  return fd;
}

}  // namespace

absl::StatusOr<Transport> Transport::Connect(absl::string_view host, int port,
                                             absl::Duration connect_timeout) {
  return Connect(host, "", port, connect_timeout);
}

absl::StatusOr<Transport> Transport::Connect(absl::string_view host,
                                             absl::string_view hostaddr, int port,
                                             absl::Duration connect_timeout) {
  ConnectOptions options;
  options.connect_timeout = connect_timeout;
  return Connect(host, hostaddr, port, options);
}

absl::StatusOr<std::vector<EndpointAddress>> Transport::Resolve(absl::string_view host,
                                                                absl::string_view hostaddr,
                                                                int port, Resolver& resolver,
                                                                absl::Time deadline,
                                                                const CancelToken* cancel) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port number: ", port));
  }
  if (host.empty() && hostaddr.empty()) {
    return absl::InvalidArgumentError("no host or hostaddr given");
  }
  if (hostaddr.empty() && host[0] == '/') {
    // libpq: a host starting with '/' is the directory of the server's Unix socket.
    std::string path = absl::StrCat(host, "/.s.PGSQL.", port);
    struct sockaddr_un sun = {};
    if (path.size() >= sizeof(sun.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Unix-domain socket path \"", path, "\" is too long"));
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.data(), path.size());
    EndpointAddress a;
    a.address.family = AF_UNIX;
    a.address.len = sizeof(sun);
    std::memcpy(&a.address.addr, &sun, sizeof(sun));
    a.text = std::move(path);
    return std::vector<EndpointAddress>{std::move(a)};
  }
  const std::string service = absl::StrCat(port);
  absl::StatusOr<std::vector<ResolvedAddress>> found;
  if (!hostaddr.empty()) {
    // libpq's hostaddr is numeric and never looked up; anything else is a typo.
    found = Resolver::ParseNumeric(std::string(hostaddr), service);
    if (!found.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "could not parse network address \"", hostaddr, "\": ", found.status().message()));
    }
  } else {
    found = resolver.Resolve(std::string(host), service, deadline, cancel);
    if (!found.ok()) {
      if (found.status().code() == absl::StatusCode::kCancelled) return found.status();
      return absl::UnavailableError(absl::StrCat("could not translate host name \"", host,
                                                 "\" to address: ", found.status().message()));
    }
  }
  std::vector<EndpointAddress> out;
  for (const ResolvedAddress& r : *found) {
    out.push_back(EndpointAddress{
        r, AddressToString(reinterpret_cast<const struct sockaddr*>(&r.addr), r.len)});
  }
  return out;
}

absl::StatusOr<Transport> Transport::ConnectAddress(const EndpointAddress& address,
                                                    absl::string_view host, int port,
                                                    const TcpOptions& tcp, absl::Time deadline,
                                                    const CancelToken* cancel) {
  const struct sockaddr* sa = reinterpret_cast<const struct sockaddr*>(&address.address.addr);
  absl::StatusOr<int> fd =
      ConnectOne(address.address.family, sa, address.address.len, deadline, cancel);
  if (!fd.ok() && fd.status().code() == absl::StatusCode::kCancelled) return fd.status();
  if (address.is_unix()) {
    if (!fd.ok()) {
      return absl::UnavailableError(absl::StrCat("connection to server on socket \"",
                                                 address.text, "\" failed: ",
                                                 fd.status().message()));
    }
    Transport t(*fd, std::string(host), address.text, port, /*unix_socket=*/true);
    t.cancel_ = cancel;
    return t;
  }
  absl::Status st = fd.status();
  if (fd.ok()) {
    st = ApplyTcpOptions(*fd, tcp);
    if (st.ok()) {
      Transport t(*fd, std::string(host), address.text, port, false);
      t.cancel_ = cancel;
      return t;
    }
    close(*fd);
  }
  return absl::Status(
      st.code() == absl::StatusCode::kInvalidArgument ? st.code()
                                                      : absl::StatusCode::kUnavailable,
      absl::StrCat("connection to server at \"", host, "\" (", address.text, "), port ", port,
                   " failed: ", st.message()));
}

absl::StatusOr<Transport> Transport::Connect(absl::string_view host,
                                             absl::string_view hostaddr, int port,
                                             const ConnectOptions& options) {
  const absl::Duration timeout = options.connect_timeout;
  const bool bounded = timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration();
  auto deadline = [&] { return bounded ? absl::Now() + timeout : absl::InfiniteFuture(); };
  Resolver& resolver = options.resolver != nullptr ? *options.resolver : Resolver::Default();
  // As in libpq, the timer restarts for each address; the lookup shares the first's.
  absl::Time first_deadline = deadline();
  ASSIGN_OR_RETURN(std::vector<EndpointAddress> addresses,
                   Resolve(host, hostaddr, port, resolver, first_deadline, options.cancel));
  const std::string name(host.empty() ? hostaddr : host);
  std::vector<std::string> failures;
  for (size_t i = 0; i < addresses.size(); ++i) {
    absl::StatusOr<Transport> t =
        ConnectAddress(addresses[i], name, port, options.tcp, i == 0 ? first_deadline : deadline(),
                       options.cancel);
    if (t.ok()) return t;
    if (t.status().code() == absl::StatusCode::kInvalidArgument ||
        t.status().code() == absl::StatusCode::kCancelled) {
      return t.status();
    }
    failures.emplace_back(t.status().message());
  }
  return absl::UnavailableError(absl::StrJoin(failures, "; "));
}

Transport::Transport(int fd, std::string host, std::string peer_address, int port,
                     bool unix_socket)
    : fd_(fd),
      host_(std::move(host)),
      peer_address_(std::move(peer_address)),
      port_(port),
      unix_socket_(unix_socket) {}

Transport::Transport(Transport&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      host_(std::move(other.host_)),
      peer_address_(std::move(other.peer_address_)),
      port_(other.port_),
      unix_socket_(other.unix_socket_),
      cancel_(other.cancel_),
      waker_(other.waker_),
      woken_(other.woken_),
      tls_(std::move(other.tls_)) {}

Transport& Transport::operator=(Transport&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    host_ = std::move(other.host_);
    peer_address_ = std::move(other.peer_address_);
    port_ = other.port_;
    unix_socket_ = other.unix_socket_;
    cancel_ = other.cancel_;
    waker_ = other.waker_;
    woken_ = other.woken_;
    tls_ = std::move(other.tls_);
  }
  return *this;
}

Transport::~Transport() { Close(); }

void Transport::Close() {
  if (tls_ != nullptr) {
    // One non-blocking SSL_shutdown queues and tries to send close_notify; we do not wait
    // for the server's reply, as libpq does not either.
    if (fd_ >= 0 && SSL_is_init_finished(tls_->ssl())) SSL_shutdown(tls_->ssl());
    ERR_clear_error();
    tls_.reset();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

absl::StatusOr<int> Transport::DriveSsl(absl::FunctionRef<int()> op, absl::Time deadline,
                                        absl::string_view what, const Waker* waker) {
  SSL* ssl = tls_->ssl();
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int r = op();
    if (r > 0) return r;
    short events = 0;
    switch (SSL_get_error(ssl, r)) {
      case SSL_ERROR_WANT_READ:
        events = POLLIN;
        break;
      case SSL_ERROR_WANT_WRITE:
        events = POLLOUT;
        break;
      case SSL_ERROR_ZERO_RETURN:
        return ClosedError();
      case SSL_ERROR_SYSCALL: {
        int e = errno;
        ERR_clear_error();
        if (e == 0 || e == ECONNRESET || e == EPIPE) return ClosedError();
        return absl::UnavailableError(
            absl::StrCat("SSL SYSCALL error ", what, " server: ", std::strerror(e)));
      }
      default: {
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
          ERR_clear_error();
          return ClosedError();
        }
        return absl::UnavailableError(
            absl::StrCat("SSL error ", what, " server: ", DrainOpenSslErrors()));
      }
    }
    ASSIGN_OR_RETURN(bool ready, PollFd(fd_, events, deadline, cancel_, waker,
                                        waker != nullptr ? &woken_ : nullptr));
    if (!ready) return absl::DeadlineExceededError(absl::StrCat("timeout ", what, " server"));
  }
}

absl::StatusOr<size_t> Transport::Read(absl::Span<uint8_t> buf, absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (buf.empty()) return absl::InvalidArgumentError("Read into an empty buffer");
  // Checked before reading too: a primary that never lets the socket run dry must not
  // keep a cancelled reader busy.
  if (cancel_ != nullptr && cancel_->cancelled()) return CancelledByToken();
  if (tls_ != nullptr) {
    int len = static_cast<int>(std::min<size_t>(buf.size(), INT_MAX));
    ASSIGN_OR_RETURN(int n, DriveSsl([&] { return SSL_read(tls_->ssl(), buf.data(), len); },
                                     deadline, "while reading from", waker_));
    return static_cast<size_t>(n);
  }
  for (;;) {
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return ClosedError();
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ASSIGN_OR_RETURN(bool ready, PollFd(fd_, POLLIN, deadline, cancel_, waker_, &woken_));
      if (!ready) return absl::DeadlineExceededError("timeout while reading from server");
      continue;
    }
    if (errno == ECONNRESET) return ClosedError();
    return absl::UnavailableError(
        absl::StrCat("could not receive data from server: ", std::strerror(errno)));
  }
}

absl::Status Transport::WriteAll(absl::string_view data, absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  size_t off = 0;
  while (off < data.size()) {
    const char* p = data.data() + off;
    size_t rest = data.size() - off;
    if (tls_ != nullptr) {
      int len = static_cast<int>(std::min<size_t>(rest, INT_MAX));
      ASSIGN_OR_RETURN(int n, DriveSsl([&] { return SSL_write(tls_->ssl(), p, len); },
                                       deadline, "while writing to"));
      off += static_cast<size_t>(n);
      continue;
    }
    ssize_t n = send(fd_, p, rest, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ASSIGN_OR_RETURN(bool ready, PollFd(fd_, POLLOUT, deadline, cancel_));
      if (!ready) return absl::DeadlineExceededError("timeout while writing to server");
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return ClosedError();
    return absl::UnavailableError(
        absl::StrCat("could not send data to server: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Transport::WaitReadable(absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (tls_ != nullptr && SSL_pending(tls_->ssl()) > 0) return true;
  return PollFd(fd_, POLLIN, deadline, cancel_);
}

absl::Status Transport::StartTls(const TlsOptions& options, absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (tls_ != nullptr) return absl::FailedPreconditionError("TLS is already active");
  // Bytes after 'S' and before our ClientHello cannot be a TLS answer; they would be
  // plaintext injected by a man in the middle (CVE-2021-23222 in libpq).
  uint8_t probe;
  if (recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
    Close();
    return absl::UnavailableError("received unencrypted data after SSL response");
  }
  TlsOptions opts = options;
  if (opts.server_host.empty() && !host_.empty() && host_[0] != '/') {
    opts.server_host = host_;
  }
  absl::StatusOr<std::unique_ptr<TlsSession>> session = TlsSession::Create(fd_, opts);
  if (!session.ok()) {
    Close();
    return session.status();
  }
  tls_ = std::move(*session);
  absl::StatusOr<int> done =
      DriveSsl([&] { return SSL_connect(tls_->ssl()); }, deadline, "during SSL handshake with");
  absl::Status st = done.status();
  if (!st.ok() && st.code() != absl::StatusCode::kDeadlineExceeded) {
    st = tls_->HandshakeError(st.message());
  }
  if (st.ok()) st = tls_->CheckPeerName();
  if (!st.ok()) Close();
  return st;
}

std::string Transport::tls_protocol() const {
  return tls_ != nullptr ? SSL_get_version(tls_->ssl()) : "";
}

absl::StatusOr<std::string> Transport::TlsServerEndPointHash() const {
  if (tls_ == nullptr) return absl::FailedPreconditionError("connection is not using TLS");
  return tls_->ServerEndPointHash();
}

}  // namespace walrep
