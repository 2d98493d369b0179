// Durable whole-file replacement for small metadata files (history files, the
// replication state): write a temporary file in the same directory, fsync it, rename it
// over the target, fsync the directory. A reader therefore sees either the old or the
// new contents, never a torn mix, even across a crash. Free functions; thread-safe as
// long as no two callers write the same path at once (the temporary name is shared).
#ifndef WALREP_REPLAY_ATOMIC_FILE_H_
#define WALREP_REPLAY_ATOMIC_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/file_ops.h"

namespace walrep {

// Replaces `path` with `contents` durably. The temporary file is "<path>.tmp"; on failure
// it is removed (best effort) and the old contents of `path` are untouched. Errors name
// the path and carry the code of the errno (errno_status.h): a full disk is
// ResourceExhausted, an I/O error Internal.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 FileOps* ops = DefaultFileOps());

// unlink + fsync of the directory, so the removal survives a crash. OK when absent.
absl::Status RemoveFileDurably(const std::string& path, FileOps* ops = DefaultFileOps());

// fsync of a directory (makes entries created/renamed in it durable).
absl::Status FsyncDir(const std::string& dir, FileOps* ops = DefaultFileOps());

// Reads a whole file of at most `max_bytes`. NotFound when it does not exist; DataLoss
// (with the path) when it is larger than `max_bytes`; else the errno's code (Internal
// for I/O errors).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          FileOps* ops = DefaultFileOps());

}  // namespace walrep

#endif  // WALREP_REPLAY_ATOMIC_FILE_H_
