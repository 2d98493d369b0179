// PgConnection: one session with a PostgreSQL server over the v3 protocol — connection
// establishment with libpq's semantics (endpoint list, sslmode fallbacks, cleartext/MD5/
// SCRAM-SHA-256(-PLUS) authentication, channel_binding), the simple query protocol, and
// the COPY sub-protocol that START_REPLICATION and BASE_BACKUP enter. Built on Transport
// (the socket), the pure encoders/decoders of frontend.h/backend_*.h, and ScramClient.
//
// Every wait is bounded: startup and queries by ConnectionOptions::io_timeout, reads during
// COPY by the caller's deadline (the stream driver keeps its timers as data). Every wait
// also ends at once when ConnectionOptions::cancel fires: the call returns Cancelled, and
// if the server was running a command of ours it is first sent a CancelRequest
// (RequestCancel), so that a primary busy with, say, BASE_BACKUP's checkpoint stops too;
// then the connection is closed.
//
// Errors: a protocol violation or transport failure leaves the connection closed, and
// later calls fail with FailedPrecondition "connection is closed"; an ErrorResponse to a
// query keeps it usable.
//
// Thread-safety: not thread-safe. One thread owns a PgConnection; the accessors are plain
// reads of state fixed at connect time, safe only from that thread as well.
#ifndef WALREP_WIRE_CONNECTION_H_
#define WALREP_WIRE_CONNECTION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "wire/backend_query.h"
#include "wire/cancel_token.h"
#include "wire/conninfo.h"
#include "wire/framing.h"
#include "wire/read_buffer.h"
#include "wire/resolver.h"
#include "wire/transport.h"

namespace walrep {

struct ConnectionOptions {
  FrameLimits limits;
  // Used when the conninfo has no connect_timeout. Like libpq's, it bounds each address
  // tried — TCP handshake, SSL negotiation, authentication and the target_session_attrs
  // check — and restarts for the next address; for a host name the DNS lookup counts
  // against the first address (libpq leaves lookups unbounded). Zero or infinite: none.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Bounds each wait during SSL negotiation, startup, authentication and Query(), within
  // the connect timeout while connecting.
  absl::Duration io_timeout = absl::Seconds(30);
  // Host name lookups; nullptr → Resolver::Default(). Tests pass a slow one.
  Resolver* resolver = nullptr;
  // load_balance_hosts=random draws from a generator seeded with this; unset → a fresh
  // random seed per Connect. Tests fix it to make the shuffle reproducible.
  std::optional<uint64_t> load_balance_seed;
  // Sends replication=true (physical walsender) unless the conninfo sets `replication`.
  bool replication = true;
  std::string default_application_name = "walrep";
  Environment env = Environment::FromProcess();
  // Cap on the bytes one Query()/StartCopy() may buffer as result rows: a server streaming
  // rows forever must not exhaust memory. Exceeding it is DataLoss.
  size_t max_result_bytes = size_t{64} << 20;
  // Watched by every wait of Connect and of the connection it makes (it must outlive
  // both): firing it makes them return Cancelled at once — the host name lookup and the
  // TCP/TLS handshakes included — and aborts the session (Abort()).
  const CancelToken* cancel = nullptr;
};

// How long Abort() (and so a cancelled wait) may spend on the CancelRequest.
inline constexpr absl::Duration kCancelRequestTimeout = absl::Milliseconds(500);

// One backend message as read from the server (body is owned).
struct BackendMessage {
  char type = 0;
  std::string body;
};

// A backend message whose body lies in the connection's receive buffer: valid until the
// next call that reads from the connection.
struct BackendMessageView {
  BackendMessageView() = default;
  BackendMessageView(char t, absl::string_view b) : type(t), body(b) {}
  BackendMessageView(const BackendMessage& m) : type(m.type), body(m.body) {}  // NOLINT
  char type = 0;
  absl::string_view body;
  // A CopyData message read with a CopyDataPlacer that took it: `body` holds only the
  // placer's head_size() bytes, and the rest of the body was received here, into the
  // memory Place returned. Empty otherwise.
  absl::string_view placed;
};

// Chooses where the rest of a large CopyData body is received: straight from the socket
// into the caller's memory (a streaming replica's ring of recent WAL), so those bytes
// are not copied out of the connection's buffer afterwards.
class CopyDataPlacer {
 public:
  virtual ~CopyDataPlacer() = default;
  // How many leading body bytes Place needs to see (at most kMaxPlacerHead).
  virtual size_t head_size() const = 0;
  // Memory for the `rest` bytes that follow `head` in a CopyData body, or an empty span
  // (or a shorter one): the message is then read into the connection's buffer as usual.
  // Asked only when at least kMinPlaced of those bytes have not arrived yet.
  virtual absl::Span<char> Place(absl::string_view head, size_t rest) = 0;
};
inline constexpr size_t kMaxPlacerHead = 64;
// Below this, one more read of the socket would cost more than the copy it saves.
inline constexpr size_t kMinPlaced = size_t{16} << 10;

class PgConnection {
 public:
  // Takes an already Parse()d ConnInfo; applies defaults, passfile and Validate() to a
  // copy, tries each endpoint in order (shuffled with load_balance_hosts=random) and each
  // of its addresses, checks requirepeer on a Unix socket, negotiates TLS per sslmode
  // (libpq semantics including the allow/prefer fallbacks; never over a Unix socket, as
  // libpq), sends the StartupMessage, authenticates
  // (trust, cleartext, MD5, SCRAM-SHA-256, SCRAM-SHA-256-PLUS with tls-server-end-point;
  // channel_binding as libpq) and reads ParameterStatus/BackendKeyData until
  // ReadyForQuery, tolerating NoticeResponse anywhere.
  //
  // Codes: rejected credentials → PermissionDenied with the server's message; refused,
  // unreachable or timed out → Unavailable naming host:port; certificate verification →
  // FailedPrecondition ("certificate"); sslmode requiring TLS from a server without it →
  // FailedPrecondition; a requirepeer mismatch → FailedPrecondition, ending the attempt
  // at once as in libpq; protocol violations → DataLoss; unsupported authentication →
  // Unimplemented; bad conninfo values or local TLS files → InvalidArgument. With several
  // endpoints every failure is reported, and the code is that of the last failure that
  // was not merely Unavailable.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const ConnInfo& conninfo,
                                                               const ConnectionOptions& options);
  ~PgConnection();  // Terminate + close if still open.

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Simple query; returns each result set (commands without rows add none), reading until
  // ReadyForQuery. An ErrorResponse becomes ErrorFields::ToStatus(), returned after
  // draining to ReadyForQuery so the connection stays usable. A query that enters COPY is
  // refused (FailedPrecondition) and the connection closed: use StartCopy().
  absl::StatusOr<std::vector<ResultSet>> Query(absl::string_view sql);
  // Runs the statement prepared (PREPARE) in this session as `statement` with `params`
  // (text; std::nullopt is NULL) over the extended query protocol: Bind, Execute, Sync
  // in one write. The rows come back in text, without a RowDescription (`description`
  // stays empty). Errors as Query's; the session stays usable after an ErrorResponse.
  absl::StatusOr<ResultSet> ExecutePrepared(absl::string_view statement,
                                            absl::Span<const std::optional<std::string>> params);

  // Sends a query expected to enter COPY (START_REPLICATION, BASE_BACKUP). Sets
  // *copy_kind to 'W' (CopyBoth) or 'H' (CopyOut) and returns the result sets sent
  // before the CopyResponse (BASE_BACKUP sends two). If the server answers with result
  // sets only (START_REPLICATION exactly at a timeline end), returns them with
  // *copy_kind = 0 after ReadyForQuery. CopyIn is refused with a CopyFail.
  absl::StatusOr<std::vector<ResultSet>> StartCopy(absl::string_view sql, char* copy_kind);

  // Next message during or after COPY: CopyData 'd', CopyDone 'c', CopyOut/CopyBoth
  // 'H'/'W', RowDescription 'T', DataRow 'D', CommandComplete 'C', ReadyForQuery 'Z',
  // EmptyQueryResponse 'I'. ErrorResponse becomes its status (ToStatus); the connection
  // stays open, and the server follows with ReadyForQuery or closes. NoticeResponse and
  // ParameterStatus are consumed (ParameterStatus updates parameter()). std::nullopt when
  // `deadline` passes before a complete message is available; that is not an error.
  absl::StatusOr<std::optional<BackendMessage>> ReadMessage(absl::Time deadline);
  // ReadMessage without copying the body out of the receive buffer (a streaming
  // replica's CopyData: 128 KiB per message while catching up).
  absl::StatusOr<std::optional<BackendMessageView>> ReadMessageView(absl::Time deadline);
  // The same, with CopyData bodies that `placer` takes received into its memory (see
  // BackendMessageView::placed). A deadline in the middle of such a body returns
  // std::nullopt as usual; the next read continues the body where it stopped, into the
  // same memory. After a placed body the next message's header is read on its own, so
  // that a following large body is placed too instead of arriving in the buffer.
  absl::StatusOr<std::optional<BackendMessageView>> ReadMessageView(absl::Time deadline,
                                                                    CopyDataPlacer* placer);

  // True if a complete message is already buffered, so the caller can drain without
  // waiting. (Bytes the TLS layer holds but has not handed over yet do not count.)
  bool HasBufferedMessage() const;
  // HasBufferedMessage(), or the socket has bytes waiting right now (never blocks). The
  // stream driver ends a flush batch only when this is false, so a primary sending
  // faster than we fsync is acknowledged once per drained socket, not per message.
  bool MoreDataReady();

  absl::Status SendCopyData(absl::string_view payload);
  absl::Status SendCopyDone();
  // A raw pre-encoded frontend message (e.g. from frontend.h).
  absl::Status Send(absl::string_view encoded_message);

  // Sends Terminate (best effort, never blocks long) and closes. Idempotent.
  void Close();

  // Asks the server to abandon the command this session is running, as libpq does: a
  // CancelRequest carrying the session's BackendKeyData, on a new connection to the same
  // address (no lookup, no other host), then waiting for the server to close that
  // connection — all by `deadline`. The cancel connection uses TLS when this session does
  // (with the session's TLS settings, as libpq 17's PQcancelBlocking follows sslmode;
  // libpq's older PQcancel always sent it in plain text), so the key never crosses the
  // network in clear when the session did not. Leaves this connection alone. Reads only
  // state fixed at connect time, so another thread may call it while the owner waits.
  // FailedPrecondition without a cancel key; Unavailable when the server cannot be
  // reached. PostgreSQL answers every CancelRequest the same way, so success means only
  // that it was delivered.
  absl::Status RequestCancel(absl::Time deadline) const;
  // Gives up on the session now: when a command is in progress, a RequestCancel (bounded
  // by kCancelRequestTimeout) and the socket closed without waiting for anything else;
  // when idle, Close(). What a wait ended by ConnectionOptions::cancel does by itself.
  // Idempotent.
  void Abort();
  // Replaces the token this connection's waits watch (nullptr: none) from the next wait
  // on, e.g. to let a token cover connection establishment only.
  void set_cancel_token(const CancelToken* cancel) {
    if (transport_.has_value()) transport_->set_cancel_token(cancel);
  }
  // ReadMessage also returns std::nullopt early when `waker` fires (nullptr: none).
  void set_waker(const Waker* waker) {
    if (transport_.has_value()) transport_->set_waker(waker);
  }
  // Whether a read's wait saw the waker fired since the last call (Transport::TakeWoken).
  bool TakeWoken() { return transport_.has_value() && transport_->TakeWoken(); }
  bool is_open() const { return transport_.has_value() && transport_->is_open(); }

  // From server_version_num if the server reports it, else parsed from server_version as
  // libpq does (15.4 → 150004, 9.6.3 → 90603); 0 if unknown.
  int server_version_num() const;
  // Any ParameterStatus value; "" if the server never sent it.
  std::string parameter(absl::string_view name) const;
  bool is_tls() const { return is_tls_; }
  // "trust" (the server asked for nothing, as with trust or cert), "cleartext", "md5",
  // "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS".
  std::string auth_method() const { return auth_method_; }
  int32_t backend_pid() const { return backend_pid_; }
  // The effective conninfo (after defaults), password shown as ********.
  const std::string& redacted_conninfo() const { return redacted_conninfo_; }
  // "host:port" of the endpoint connected to.
  const std::string& endpoint() const { return endpoint_; }
  // The socket, for inspection only (getsockopt in tests and diagnostics); -1 when closed.
  int socket_fd() const { return is_open() ? transport_->native_handle() : -1; }

 private:
  struct Attempt;  // One address of an endpoint, one TLS choice; defined in connection.cc.
  struct AttemptOutcome {
    bool tcp_connected = false;       // a failure after this came from the server side
    bool server_refused_tls = false;  // 'N' to SSLRequest: plain text was already tried
    bool fatal = false;               // no other host may be tried (requirepeer)
  };
  class FailureLog;  // connection.cc

  PgConnection(Transport transport, const ConnectionOptions& options);

  // Connection establishment (connection.cc). TryHost: every address of one endpoint;
  // OK(nullptr) means "failures logged, try the next host", an error ends Connect.
  struct HostPlan;
  static absl::StatusOr<std::unique_ptr<PgConnection>> TryHost(const ConnInfo& info,
                                                               const Endpoint& endpoint,
                                                               const HostPlan& plan,
                                                               absl::string_view wanted,
                                                               FailureLog* log);
  static absl::StatusOr<std::unique_ptr<PgConnection>> TryAddress(const ConnInfo& info,
                                                                   const Attempt& attempt,
                                                                   const ConnectionOptions& options,
                                                                   AttemptOutcome* outcome);
  absl::Status Startup(const ConnInfo& info, const ConnectionOptions& options);
  absl::Status Authenticate(const ConnInfo& info);  // connection_auth.cc

  // Messages (connection_io.cc).
  // now + io_timeout, but no later than the connect timeout while connecting.
  absl::Time IoDeadline() const;
  // The next frame of any type, copied out of the buffer; nullopt on deadline.
  absl::StatusOr<std::optional<BackendMessage>> ReadFrame(absl::Time deadline);
  // ReadFrame's message in place: the bytes stay where they are until the next read
  // (only a read moves or replaces the buffer's contents).
  absl::StatusOr<std::optional<BackendMessageView>> ReadFrameView(
      absl::Time deadline, CopyDataPlacer* placer = nullptr);
  // ReadFrameView's placed bodies (connection_placed.cc): starts one when the frame at
  // the front of the buffer is a CopyData that `placer` takes (true), and continues the
  // one started (a complete message in *out, or nullopt when the deadline passed).
  bool StartPlaced(absl::string_view avail, size_t frame_size, CopyDataPlacer& placer);
  // A read with another placer than the one that started the body fails the connection.
  absl::StatusOr<std::optional<BackendMessageView>> ContinuePlaced(
      absl::Time deadline, const CopyDataPlacer* placer);
  void DropPlaced();
  // ReadFrame with NoticeResponse/ParameterStatus consumed; a missed deadline is an
  // Unavailable "timeout" error (used where the server owes us an answer).
  absl::StatusOr<BackendMessage> ReadRequired(absl::string_view waiting_for);
  // Handles 'N' and 'S'; true if `msg` was one of them.
  absl::StatusOr<bool> ConsumeAsync(BackendMessageView msg);
  absl::Status SendQuery(absl::string_view sql);
  // The Query()/StartCopy() loop; copy_kind == nullptr means COPY is not expected.
  absl::StatusOr<std::vector<ResultSet>> ReadResults(char* copy_kind);
  // An ErrorResponse ending a command: its status, once the session is at ReadyForQuery
  // again (a malformed one closes the connection).
  absl::Status CommandFailed(const BackendMessage& error);
  // Drains to ReadyForQuery after an error, then returns `error`.
  absl::Status DrainToReady(absl::Status error);
  // Closes the connection and returns `status` (for protocol violations and I/O errors).
  absl::Status Fail(absl::Status status);
  absl::Status Unexpected(BackendMessageView msg, absl::string_view during);

  std::optional<Transport> transport_;
  FrameLimits limits_;
  absl::Duration io_timeout_;
  absl::Time connect_deadline_ = absl::InfiniteFuture();  // the address's connect_timeout
  size_t max_result_bytes_;
  ReadBuffer buf_;  // received bytes not yet consumed
  // A CopyData body being received into a placer's memory.
  struct Placed {
    char head[kMaxPlacerHead];
    size_t head_size = 0;
    absl::Span<char> dest;  // the rest of the body
    size_t got = 0;         // of dest
    const CopyDataPlacer* placer = nullptr;  // whose memory dest is
  };
  std::optional<Placed> placed_;
  std::string placed_head_;  // the last placed message's head, returned as its body
  bool peek_next_header_ = false;  // the last message was placed
  bool ready_ = false;  // last message seen was ReadyForQuery
  std::map<std::string, std::string, std::less<>> parameters_;
  bool is_tls_ = false;
  std::string auth_method_ = "trust";
  int32_t backend_pid_ = 0;
  std::string cancel_key_;
  // Where RequestCancel goes, and how: fixed when the address is connected.
  EndpointAddress address_;
  std::string host_;  // for SNI, verify-full and messages
  int port_ = 0;
  TlsOptions tls_options_;
  TcpOptions tcp_options_;
  std::string redacted_conninfo_;
  std::string endpoint_;
};

// server_version text → number, as libpq's PQserverVersion derives it; 0 if unparsable.
int ParseServerVersion(absl::string_view server_version);

}  // namespace walrep

#endif  // WALREP_WIRE_CONNECTION_H_
