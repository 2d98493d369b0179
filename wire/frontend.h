// Encoders for the messages a client sends (PostgreSQL protocol 3.0). Each returns the
// complete wire bytes, header included. Pure functions; safe from any thread.
//
// Strings the protocol carries NUL-terminated are checked for embedded NULs and rejected
// with InvalidArgument before anything is built, so a hostile or mistaken value can never
// truncate a field on the server side and smuggle the rest in as another field.
#ifndef WALREP_WIRE_FRONTEND_H_
#define WALREP_WIRE_FRONTEND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace walrep {

inline constexpr int32_t kProtocolVersion30 = 196608;  // 3 << 16
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kCancelRequestCode = 80877102;
// PostgreSQL refuses startup packets above 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
inline constexpr size_t kMaxStartupPacket = 10000;
// Largest body we agree to encode; the server's own limit for one message is ~1 GiB.
inline constexpr size_t kMaxEncodedBody = (size_t{1} << 30) - 1;

// Ordered key/value pairs ("user", "database", "replication", "application_name", ...).
using StartupParameters = std::vector<std::pair<std::string, std::string>>;

// StartupMessage for protocol 3.0. InvalidArgument (naming the key) when a key is empty
// or a key/value holds a NUL; InvalidArgument when the packet would exceed 10000 bytes.
absl::StatusOr<std::string> EncodeStartupMessage(const StartupParameters& params);
// SSLRequest: the server answers with one untyped byte, 'S' or 'N'.
std::string EncodeSslRequest();
// CancelRequest, the first and only packet of a connection of its own: length, code,
// the backend's process ID and its secret key as BackendKeyData gave them (4 bytes in
// protocol 3.0, up to 256 in 3.2). The server answers by closing the connection.
// InvalidArgument for an empty or over-long key.
absl::StatusOr<std::string> EncodeCancelRequest(int32_t process_id, absl::string_view secret_key);
// PasswordMessage ('p') carrying a cleartext password or an "md5..." digest.
absl::StatusOr<std::string> EncodePasswordMessage(absl::string_view password);
// SASLInitialResponse ('p'): mechanism name, then the client-first message; nullopt
// encodes length -1 (no initial response).
absl::StatusOr<std::string> EncodeSaslInitialResponse(
    absl::string_view mechanism, std::optional<absl::string_view> initial_response);
// SASLResponse ('p'): raw mechanism bytes (may contain anything).
absl::StatusOr<std::string> EncodeSaslResponse(absl::string_view data);
// Query ('Q'), simple query protocol. InvalidArgument if `sql` contains NUL.
absl::StatusOr<std::string> EncodeQuery(absl::string_view sql);
// Bind ('B') of the unnamed portal to the prepared statement `statement`, every parameter
// and result column in text format (std::nullopt: SQL NULL); Execute ('E') of that portal
// for all its rows; Sync ('S'). Together: one statement of the extended query protocol,
// without the parse and analysis a simple-query EXECUTE costs the server each time.
// InvalidArgument for a NUL in `statement` or more than 65535 parameters.
absl::StatusOr<std::string> EncodeBindExecuteSync(
    absl::string_view statement, absl::Span<const std::optional<std::string>> params);
// CopyData ('d'): arbitrary bytes (e.g. a standby status update from
// replication_messages.h).
absl::StatusOr<std::string> EncodeCopyData(absl::string_view data);
std::string EncodeCopyDone();
absl::StatusOr<std::string> EncodeCopyFail(absl::string_view reason);
std::string EncodeTerminate();

}  // namespace walrep

#endif  // WALREP_WIRE_FRONTEND_H_
