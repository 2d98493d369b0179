// libpq's requirepeer: on a Unix-domain socket, the user name of the process at the other
// end (SO_PEERCRED, resolved through the passwd database) must be the one named, so a
// server socket planted in a shared directory by another user is refused before any
// password is sent to it. libpq does the same check with getpeereid() and ignores
// requirepeer on TCP connections, as the caller does here.
//
// Stateless functions over a caller-owned descriptor; thread-safe.
#ifndef WALREP_WIRE_PEER_CRED_H_
#define WALREP_WIRE_PEER_CRED_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// The login name of the peer of the connected Unix-domain socket `fd`. Unavailable if the
// credentials cannot be read; FailedPrecondition if the uid has no passwd entry (libpq:
// "local user with ID %d does not exist").
absl::StatusOr<std::string> PeerUserName(int fd);

// OK when `required` is empty or names the peer. Otherwise FailedPrecondition with
// libpq's message: requirepeer specifies "X", but actual peer user name is "Y".
absl::Status CheckRequirePeer(int fd, absl::string_view required);

}  // namespace walrep

#endif  // WALREP_WIRE_PEER_CRED_H_
