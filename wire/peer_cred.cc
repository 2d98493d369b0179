#include "wire/peer_cred.h"

#include <errno.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace walrep {

absl::StatusOr<std::string> PeerUserName(int fd) {
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("could not get peer credentials: ", std::strerror(errno)));
  }
  struct passwd pw;
  struct passwd* result = nullptr;
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  int rc;
  while ((rc = getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &result)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("could not look up local user ID ", cred.uid, ": ", std::strerror(rc)));
  }
  if (result == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("local user with ID ", cred.uid, " does not exist"));
  }
  return std::string(result->pw_name);
}

absl::Status CheckRequirePeer(int fd, absl::string_view required) {
  if (required.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> peer = PeerUserName(fd);
  if (!peer.ok()) return peer.status();
  if (*peer == required) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "requirepeer specifies \"", required, "\", but actual peer user name is \"", *peer, "\""));
}

}  // namespace walrep
