// Transport: the one place walrep does socket I/O. A connected byte stream to a
// PostgreSQL server — TCP (or a Unix-domain socket when the host is a directory path, as
// in libpq), optionally upgraded to TLS after the caller's SSLRequest/'S' exchange —
// with every wait bounded by an absolute deadline, so the session loop can treat timers
// as data. The socket stays non-blocking; waits are poll(2).
//
// Movable, not copyable, not thread-safe: one thread drives a Transport.
//
// Status codes: unreachable/refused/reset/closed peers, DNS failures and connect
// timeouts → Unavailable (retryable; connect timeouts say "timeout expired"); a Read or
// WriteAll deadline passing → DeadlineExceeded ("timeout"); bad arguments →
// InvalidArgument; TLS codes as documented in tls.h.
#ifndef WALREP_WIRE_TRANSPORT_H_
#define WALREP_WIRE_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "wire/tls.h"

namespace walrep {

struct ConnectOptions {
  // Per address tried, as libpq's connect_timeout. Zero or infinite → no limit (the OS's
  // own TCP connect timeout still applies). DNS resolution itself is not bounded.
  absl::Duration connect_timeout = absl::InfiniteDuration();
  // TCP keepalives (libpq's keepalives*, on by default): a primary that vanishes without
  // a FIN is noticed even while the stream is idle. Zero durations/count → OS default.
  bool keepalives = true;
  absl::Duration keepalives_idle = absl::ZeroDuration();
  absl::Duration keepalives_interval = absl::ZeroDuration();
  int keepalives_count = 0;
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

  bool is_open() const { return fd_ >= 0; }
  bool is_tls() const { return tls_ != nullptr; }
  // The host as given (for messages, SNI and verify-full) and the address connected to.
  const std::string& host() const { return host_; }
  const std::string& peer_address() const { return peer_address_; }
  int port() const { return port_; }

 private:
  Transport(int fd, std::string host, std::string peer_address, int port);

  // Repeats an SSL_* call, polling for WANT_READ/WANT_WRITE, until it returns > 0.
  // Errors carry `what` ("reading from", "writing to", ...).
  absl::StatusOr<int> DriveSsl(absl::FunctionRef<int()> op, absl::Time deadline,
                               absl::string_view what);

  int fd_ = -1;
  std::string host_;
  std::string peer_address_;
  int port_ = 0;
  std::unique_ptr<TlsSession> tls_;
};

}  // namespace walrep

#endif  // WALREP_WIRE_TRANSPORT_H_
