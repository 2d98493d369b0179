// ErrnoStatus: the one translation of a failed system call on a file into an absl::Status,
// shared by everything that touches disk (replay/, backup/, agent/). Callers branch on the
// code ("absent" vs "broken", a full disk vs an I/O error) and the gRPC layer passes it
// through unchanged (agent/service.cc), so every errno of the same kind must give the same
// code wherever it arose. Thread-safe (strerror_r).
//
// The table:
//
//   errno                   code                why
//   ----------------------  ------------------  ------------------------------------------
//   ENOENT                  NotFound            "absent", which callers tell from "broken"
//   ENOSPC, EDQUOT          ResourceExhausted   out of space or quota: free some, retry
//   EACCES, EPERM, EROFS    PermissionDenied    the file system refuses the operation:
//                                               fix ownership, mode or the mount. EROFS is
//                                               here rather than FailedPrecondition, which
//                                               DESIGN.md reserves for identity, timeline
//                                               and role mismatches.
//   EEXIST                  AlreadyExists       something is already at that name
//   ELOOP, ENOTDIR, EISDIR  InvalidArgument     the path names the wrong kind of file: a
//                                               symlink where none may be followed
//                                               (O_NOFOLLOW), a file where a directory
//                                               must be, or the reverse. Hostile archive
//                                               members end here (backup/extractor.h).
//   EIO and anything else   Internal            the storage is broken; nothing the caller
//                                               can change by asking again
//
// Message: "<op> <path>: <strerror, lower-cased> (errno N)", e.g.
// "fdatasync /d/wal/000000010000000000000003.partial: input/output error (errno 5)".
#ifndef WALREP_REPLAY_ERRNO_STATUS_H_
#define WALREP_REPLAY_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace walrep {

// `op` names the call ("open", "fsync directory", ...), `path` what it was applied to.
// `err` is the errno value; pass it explicitly, read right after the failing call.
absl::Status ErrnoStatus(absl::string_view op, absl::string_view path, int err);

}  // namespace walrep

#endif  // WALREP_REPLAY_ERRNO_STATUS_H_
