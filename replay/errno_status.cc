#include "replay/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace walrep {

absl::Status ErrnoStatus(absl::string_view op, absl::string_view path, int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (possibly not buf).
  std::string text = ::strerror_r(err, buf, sizeof(buf));
  // Lower-cased so messages read uniformly ("no space left on device").
  absl::AsciiStrToLower(&text);
  std::string msg = absl::StrCat(op, " ", path, ": ", text, " (errno ", err, ")");
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case ELOOP:
    case ENOTDIR:
    case EISDIR:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace walrep
