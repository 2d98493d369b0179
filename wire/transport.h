// Transport: the one place walrep does socket I/O. A connected byte stream to a
// PostgreSQL server — TCP (or a Unix-domain socket when the host is a directory path, as
// in libpq), optionally upgraded to TLS after the caller's SSLRequest/'S' exchange —
// with every wait bounded by an absolute deadline, so the session loop can treat timers
// as data. The socket stays non-blocking; waits are poll(2).
//
// Movable, not copyable, not thread-safe: one thread drives a Transport.
//
// Status codes: unreachable/refused/reset/closed peers, DNS failures and connect
// timeouts → Unavailable (retryable; connect timeouts, DNS included, say "timeout
// expired"); a Read or WriteAll deadline passing → DeadlineExceeded ("timeout"); a wait
// ended by the transport's CancelToken (cancel_token.h) → Cancelled; bad
// arguments and socket options the kernel refuses → InvalidArgument; TLS codes as
// documented in tls.h.
#ifndef WALREP_WIRE_TRANSPORT_H_
#define WALREP_WIRE_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "wire/cancel_token.h"
#include "wire/waker.h"
#include "wire/resolver.h"
#include "wire/socket_options.h"
#include "wire/tls.h"

namespace walrep {

struct ConnectOptions {
  // libpq's connect_timeout: bounds each address tried, restarting for the next one; for a
  // host name the DNS lookup counts against the first address's share (libpq leaves the
  // lookup unbounded). Zero or infinite → no limit (the OS's own TCP connect timeout still
  // applies).
  absl::Duration connect_timeout = absl::InfiniteDuration();
  // keepalives* and tcp_user_timeout (socket_options.h); TCP sockets only.
  TcpOptions tcp;
  // Host name lookups; nullptr → Resolver::Default().
  Resolver* resolver = nullptr;
  // When set (it must outlive the Transport), every wait — the lookup, connect, TLS,
  // reads and writes — ends with Cancelled as soon as it fires.
  const CancelToken* cancel = nullptr;
};

// One address to try for an endpoint: a TCP address or the server's Unix socket.
struct EndpointAddress {
  ResolvedAddress address;
  std::string text;  // the numeric IP address, or the socket's path
  bool is_unix() const { return address.family == AF_UNIX; }
};

class Transport {
 public:
  // Resolves `host` (name, IP literal, or Unix socket directory) and connects to the
  // first address that accepts.
  static absl::StatusOr<Transport> Connect(absl::string_view host, int port,
                                           absl::Duration connect_timeout);
  // libpq's hostaddr: when non-empty, connect to that numeric address without DNS and
  // keep `host` for TLS (SNI, verify-full) and messages.
  static absl::StatusOr<Transport> Connect(absl::string_view host,
                                           absl::string_view hostaddr, int port,
                                           absl::Duration connect_timeout);
  static absl::StatusOr<Transport> Connect(absl::string_view host,
                                           absl::string_view hostaddr, int port,
                                           const ConnectOptions& options);

  // The addresses Connect would try, in order: the Unix socket `host/.s.PGSQL.port` when
  // host is a directory (starts with '/'); `hostaddr` parsed without DNS; else `host`
  // looked up by `resolver`, giving up at `deadline`. Lookup failures are Unavailable
  // ("could not translate host name ..."); a hostaddr that is not numeric, a bad port or
  // an overlong socket path are InvalidArgument.
  static absl::StatusOr<std::vector<EndpointAddress>> Resolve(absl::string_view host,
                                                              absl::string_view hostaddr, int port,
                                                              Resolver& resolver,
                                                              absl::Time deadline,
                                                              const CancelToken* cancel = nullptr);
  // Connects to one resolved address by `deadline` and, for TCP, applies `tcp`.
  // `host` is kept for messages, SNI and verify-full. Failures are Unavailable naming the
  // server as libpq does, except a socket option the kernel refuses (InvalidArgument) and
  // a fired `cancel` (Cancelled), which the transport then keeps watching.
  static absl::StatusOr<Transport> ConnectAddress(const EndpointAddress& address,
                                                  absl::string_view host, int port,
                                                  const TcpOptions& tcp, absl::Time deadline,
                                                  const CancelToken* cancel = nullptr);

  Transport(Transport&& other) noexcept;
  Transport& operator=(Transport&& other) noexcept;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport();

  // Reads at least one byte (up to buf.size()). The peer closing the connection is an
  // error, Unavailable "server closed the connection unexpectedly": in the protocol the
  // client always ends the session, so an EOF is never expected.
  absl::StatusOr<size_t> Read(absl::Span<uint8_t> buf, absl::Time deadline);

  // Writes everything or fails; on failure an unknown prefix may have been sent.
  absl::Status WriteAll(absl::string_view data, absl::Time deadline);

  // True when a Read would find data (or EOF/error) without waiting; false when the
  // deadline passed first. Under TLS, bytes already decrypted count, and a readable
  // socket may hold only part of a record, so a following Read can still wait.
  absl::StatusOr<bool> WaitReadable(absl::Time deadline);

  // TLS handshake over the connected socket, after the caller sent SSLRequest and read
  // exactly the one-byte 'S'. Fails if the server already sent more bytes (they would be
  // unencrypted and unauthenticated). On failure the transport should be closed.
  absl::Status StartTls(const TlsOptions& options, absl::Time deadline);

  // The tls-server-end-point channel binding data for SCRAM-SHA-256-PLUS.
  absl::StatusOr<std::string> TlsServerEndPointHash() const;

  // Sends TLS close_notify best-effort (never waits), then closes the socket. Idempotent.
  void Close();

  // The token this transport's waits watch (may be null); a later Cancel() of it ends the
  // current and every later wait with Cancelled. Replacing it (e.g. with nullptr to send a
  // last message after a cancellation) affects the waits that start afterwards.
  const CancelToken* cancel_token() const { return cancel_; }
  void set_cancel_token(const CancelToken* cancel) { cancel_ = cancel; }
  // A Read waiting for data also ends (DeadlineExceeded, as if its deadline passed) when
  // `waker` fires; nullptr: none. Writes never watch it.
  void set_waker(const Waker* waker) { waker_ = waker; }
  // Whether a wait saw the waker fired since the last call (then cleared): the reader
  // drains it, and reads what it signals, only when it did — not on every wake-up.
  bool TakeWoken() { return std::exchange(woken_, false); }

  bool is_open() const { return fd_ >= 0; }
  bool is_tls() const { return tls_ != nullptr; }
  bool is_unix_socket() const { return unix_socket_; }
  // The negotiated protocol ("TLSv1.3"), or "" without TLS.
  std::string tls_protocol() const;
  // The socket, for inspection (getsockopt, SO_PEERCRED). Reading or writing it directly
  // would bypass TLS and the framing: don't.
  int native_handle() const { return fd_; }
  // The host as given (for messages, SNI and verify-full) and the address connected to.
  const std::string& host() const { return host_; }
  const std::string& peer_address() const { return peer_address_; }
  int port() const { return port_; }

 private:
  Transport(int fd, std::string host, std::string peer_address, int port, bool unix_socket);

  // Repeats an SSL_* call, polling for WANT_READ/WANT_WRITE, until it returns > 0.
  // Errors carry `what` ("reading from", "writing to", ...).
  absl::StatusOr<int> DriveSsl(absl::FunctionRef<int()> op, absl::Time deadline,
                               absl::string_view what, const Waker* waker = nullptr);

  int fd_ = -1;
  std::string host_;
  std::string peer_address_;
  int port_ = 0;
  bool unix_socket_ = false;
  const CancelToken* cancel_ = nullptr;
  const Waker* waker_ = nullptr;
  bool woken_ = false;
  std::unique_ptr<TlsSession> tls_;
};

}  // namespace walrep

#endif  // WALREP_WIRE_TRANSPORT_H_
