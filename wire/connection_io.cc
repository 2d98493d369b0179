// PgConnection after startup: its lifetime (close, abort, cancel), reading framed
// messages, and sending. The simple query protocol is in connection_query.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "wire/backend_error.h"
#include "wire/backend_startup.h"
#include "wire/connection.h"
#include "wire/frontend.h"
#include "wire/status_macros.h"

namespace walrep {

namespace connection_internal {
// The "wire" logger, shared with connection.cc. Registered once; if the daemon
// registered its own "wire" logger first, that one is used.
spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> const logger = [] {
    std::shared_ptr<spdlog::logger> existing = spdlog::get("wire");
    if (existing) return existing;
    std::shared_ptr<spdlog::logger> l = spdlog::default_logger()->clone("wire");
    spdlog::register_logger(l);
    return l;
  }();
  return *logger;
}

// A copy of `status` with `prefix` before its message and the same payloads (SQLSTATE).
// A deadline passing while the server owes us an answer is a retryable connection
// problem, hence Unavailable rather than DeadlineExceeded.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  absl::StatusCode code = status.code() == absl::StatusCode::kDeadlineExceeded
                              ? absl::StatusCode::kUnavailable
                              : status.code();
  absl::Status out(code, absl::StrCat(prefix, status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}
}  // namespace connection_internal

using connection_internal::Log;

namespace {
// Reads are at least this big so a stream of small CopyData messages costs few syscalls.
// Large enough that a primary sending WAL at full speed is drained in few system calls.
constexpr size_t kReadChunk = size_t{256} << 10;
}  // namespace

int ParseServerVersion(absl::string_view server_version) {
  // "15.4 (Debian 15.4-1.pgdg120+1)", "16beta1", "9.6.24": leading digits per part.
  std::vector<int> parts;
  size_t i = 0;
  while (parts.size() < 3 && i < server_version.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(server_version[i]))) {
    int v = 0;
    while (i < server_version.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(server_version[i])) && v < 100000) {
      v = v * 10 + (server_version[i++] - '0');
    }
    parts.push_back(v);
    if (i < server_version.size() && server_version[i] == '.')
      ++i;
    else
      break;
  }
  if (parts.empty()) return 0;
  if (parts[0] >= 10) return parts[0] * 10000 + (parts.size() >= 2 ? parts[1] : 0);
  if (parts.size() < 2) return 0;
  return parts[0] * 10000 + parts[1] * 100 + (parts.size() >= 3 ? parts[2] : 0);
}

PgConnection::PgConnection(Transport transport, const ConnectionOptions& options)
    : transport_(std::move(transport)),
      limits_(options.limits),
      io_timeout_(options.io_timeout),
      max_result_bytes_(options.max_result_bytes) {}

PgConnection::~PgConnection() { Close(); }

void PgConnection::Close() {
  if (!transport_.has_value()) return;
  if (transport_->is_open()) {
    // Best effort: the server logs an unexpected EOF otherwise, nothing worse.
    (void)transport_->WriteAll(EncodeTerminate(), absl::Now() + absl::Seconds(1));
    transport_->Close();
  }
  ready_ = false;
  DropPlaced();
}

void PgConnection::DropPlaced() {
  // A body half received into a placer's memory is never continued on a closed
  // connection: that memory may be gone (a ring reset) by the time anything reads again.
  placed_.reset();
  peek_next_header_ = false;
}

void PgConnection::Abort() {
  if (!is_open()) return;
  if (ready_) {  // nothing running: the ordinary goodbye
    Close();
    return;
  }
  if (!cancel_key_.empty()) {
    absl::Status st = RequestCancel(absl::Now() + kCancelRequestTimeout);
    if (st.ok()) {
      Log().info("sent a cancel request to {} for backend {}", endpoint_, backend_pid_);
    } else {
      Log().warn("cancel request to {} for backend {} failed: {}", endpoint_, backend_pid_,
                 std::string(st.message()));
    }
  }
  transport_->Close();
  ready_ = false;
}

absl::Status PgConnection::RequestCancel(absl::Time deadline) const {
  if (cancel_key_.empty()) {
    return absl::FailedPreconditionError("the server sent no cancel key (BackendKeyData)");
  }
  ASSIGN_OR_RETURN(std::string packet, EncodeCancelRequest(backend_pid_, cancel_key_));
  // No token here: this is what a cancellation does, it must not be cancelled itself.
  ASSIGN_OR_RETURN(Transport t,
                   Transport::ConnectAddress(address_, host_, port_, tcp_options_, deadline));
  if (is_tls_) {
    RETURN_IF_ERROR(t.WriteAll(EncodeSslRequest(), deadline));
    uint8_t answer = 0;
    RETURN_IF_ERROR(t.Read(absl::MakeSpan(&answer, 1), deadline).status());
    if (answer == 'S') {
      RETURN_IF_ERROR(t.StartTls(tls_options_, deadline));
    } else if (answer != 'N' || tls_options_.sslmode >= SslMode::kRequire) {
      return absl::UnavailableError(
          absl::StrCat("server at ", endpoint_, " refused SSL for the cancel request"));
    }
  }
  RETURN_IF_ERROR(t.WriteAll(packet, deadline));
  // The server closes the connection once it has handled the request (libpq waits for
  // that too, so that a command sent next cannot be the one cancelled).
  uint8_t byte = 0;
  absl::StatusOr<size_t> n = t.Read(absl::MakeSpan(&byte, 1), deadline);
  if (n.ok()) return absl::DataLossError("unexpected response to a cancel request");
  if (n.status().code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::UnavailableError(
        absl::StrCat("timeout waiting for ", endpoint_, " to take the cancel request"));
  }
  return absl::OkStatus();  // end of file (or a reset): the request was taken
}

absl::Status PgConnection::Fail(absl::Status status) {
  // A cancelled wait abandons the command too, not only the socket: a server busy with
  // it (a checkpoint before BASE_BACKUP's first byte) would not notice the close.
  if (status.code() == absl::StatusCode::kCancelled) Abort();
  if (transport_.has_value()) transport_->Close();
  ready_ = false;
  DropPlaced();
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return connection_internal::Annotate(status, "");
  }
  return status;
}

absl::Status PgConnection::Unexpected(BackendMessageView msg, absl::string_view during) {
  return Fail(absl::DataLossError(absl::StrCat("protocol violation: unexpected message type ",
                                               DescribeMessageType(msg.type), " during ", during)));
}

absl::StatusOr<std::optional<BackendMessage>> PgConnection::ReadFrame(absl::Time deadline) {
  ASSIGN_OR_RETURN(std::optional<BackendMessageView> view, ReadFrameView(deadline));
  if (!view.has_value()) return std::nullopt;
  return BackendMessage{view->type, std::string(view->body)};
}

absl::StatusOr<std::optional<BackendMessageView>> PgConnection::ReadFrameView(
    absl::Time deadline, CopyDataPlacer* placer) {
  if (!is_open()) return absl::FailedPreconditionError("connection is closed");
  for (;;) {
    if (placed_.has_value()) return ContinuePlaced(deadline, placer);
    absl::string_view avail = buf_.readable();
    const FrameScan scan = ScanFrame(avail, limits_);
    if (scan.kind == FrameScan::Kind::kFrame) {
      // Consumed now, still in place: ReadBuffer moves bytes only in Reserve (a read).
      const BackendMessageView msg(scan.frame.type, scan.frame.body);
      buf_.Consume(scan.frame.consumed);
      // A large body the placer did not take (a ring chunk's end): the next one may be
      // taken again, so the next header is still read on its own.
      if (placer != nullptr) peek_next_header_ = scan.frame.body.size() >= kMinPlaced;
      return msg;
    }
    if (scan.kind == FrameScan::Kind::kMalformed) {
      return Fail(absl::DataLossError(
          absl::StrCat("malformed message from server: ", scan.error.message())));
    }
    const size_t total = scan.need;
    if (placer != nullptr && StartPlaced(avail, total, *placer)) continue;
    absl::Span<uint8_t> room = buf_.Reserve(std::max(total - avail.size(), kReadChunk));
    if (placer != nullptr && peek_next_header_) {
      // Only as far as the placer's head: if it starts a large CopyData body, that body
      // goes to the placer rather than into this buffer.
      const size_t peek = kFrameHeaderSize + std::min(placer->head_size(), kMaxPlacerHead);
      if (avail.size() < peek) room = room.subspan(0, peek - avail.size());
    }
    absl::StatusOr<size_t> n = transport_->Read(room, deadline);
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kDeadlineExceeded) return std::nullopt;
      return Fail(n.status());
    }
    buf_.Commit(*n);
  }
}

bool PgConnection::MoreDataReady() {
  if (HasBufferedMessage()) return true;
  if (!is_open()) return false;
  absl::StatusOr<bool> readable = transport_->WaitReadable(absl::InfinitePast());
  // An error counts as "ready": the next read reports it without waiting.
  return !readable.ok() || *readable;
}

bool PgConnection::HasBufferedMessage() const {
  absl::string_view avail = buf_.readable();
  // A malformed frame also counts: reading it returns the error without waiting.
  return ScanFrame(avail, limits_).kind != FrameScan::Kind::kNeedMore;
}

absl::StatusOr<bool> PgConnection::ConsumeAsync(BackendMessageView msg) {
  if (msg.type == 'N') {
    absl::StatusOr<ErrorFields> fields = DecodeErrorFields(msg.body);
    if (!fields.ok()) return Fail(fields.status());
    Log().debug("server notice: {}", fields->ToString());
    return true;
  }
  if (msg.type == 'S') {
    absl::StatusOr<ParameterStatus> p = DecodeParameterStatus(msg.body);
    if (!p.ok()) return Fail(p.status());
    Log().debug("server parameter {} = {}", p->name, p->value);
    parameters_.insert_or_assign(std::move(p->name), std::move(p->value));
    return true;
  }
  if (msg.type == 'A') {  // NotificationResponse: nothing here LISTENs; ignore.
    return true;
  }
  return false;
}

absl::Time PgConnection::IoDeadline() const {
  return std::min(absl::Now() + io_timeout_, connect_deadline_);
}

absl::StatusOr<BackendMessage> PgConnection::ReadRequired(absl::string_view waiting_for) {
  const absl::Time deadline = IoDeadline();
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<BackendMessage> msg, ReadFrame(deadline));
    if (!msg.has_value()) {
      // libpq says just "timeout expired" when connect_timeout runs out.
      const std::string which = deadline == connect_deadline_
                                    ? std::string("(connect_timeout)")
                                    : absl::StrCat("after ", absl::FormatDuration(io_timeout_));
      return Fail(absl::UnavailableError(absl::StrCat("timeout expired ", which, " waiting for ",
                                                      waiting_for, " from server ", endpoint_)));
    }
    ASSIGN_OR_RETURN(bool consumed, ConsumeAsync(*msg));
    if (!consumed) return std::move(*msg);
  }
}

absl::Status PgConnection::Send(absl::string_view encoded_message) {
  if (!is_open()) return absl::FailedPreconditionError("connection is closed");
  absl::Status st = transport_->WriteAll(encoded_message, IoDeadline());
  if (!st.ok()) return Fail(st);
  return absl::OkStatus();
}

absl::Status PgConnection::SendCopyData(absl::string_view payload) {
  ASSIGN_OR_RETURN(std::string m, EncodeCopyData(payload));
  return Send(m);
}

absl::Status PgConnection::SendCopyDone() { return Send(EncodeCopyDone()); }

absl::StatusOr<std::optional<BackendMessage>> PgConnection::ReadMessage(absl::Time deadline) {
  ASSIGN_OR_RETURN(std::optional<BackendMessageView> view, ReadMessageView(deadline));
  if (!view.has_value()) return std::nullopt;
  return BackendMessage{view->type, std::string(view->body)};
}

absl::StatusOr<std::optional<BackendMessageView>> PgConnection::ReadMessageView(
    absl::Time deadline) {
  return ReadMessageView(deadline, nullptr);
}

absl::StatusOr<std::optional<BackendMessageView>> PgConnection::ReadMessageView(
    absl::Time deadline, CopyDataPlacer* placer) {
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<BackendMessageView> msg, ReadFrameView(deadline, placer));
    if (!msg.has_value()) return std::nullopt;
    ASSIGN_OR_RETURN(bool consumed, ConsumeAsync(*msg));
    if (consumed) continue;
    switch (msg->type) {
      case 'E': {
        absl::StatusOr<ErrorFields> fields = DecodeErrorFields(msg->body);
        if (!fields.ok()) return Fail(fields.status());
        return fields->ToStatus();
      }
      case 'Z': {
        absl::StatusOr<TransactionStatus> ts = DecodeReadyForQuery(msg->body);
        if (!ts.ok()) return Fail(ts.status());
        ready_ = true;
        return msg;
      }
      case 'd':
      case 'c':
      case 'H':
      case 'W':
      case 'T':
      case 'D':
      case 'C':
      case 'I':
        return msg;
      default:
        return Unexpected(*msg, "COPY");
    }
  }
}

int PgConnection::server_version_num() const {
  int n = 0;
  if (absl::SimpleAtoi(parameter("server_version_num"), &n) && n > 0) return n;
  return ParseServerVersion(parameter("server_version"));
}

std::string PgConnection::parameter(absl::string_view name) const {
  auto it = parameters_.find(name);
  return it == parameters_.end() ? std::string() : it->second;
}

}  // namespace walrep
