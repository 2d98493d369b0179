// Durable replacement of a file that PostgreSQL reads (walrep.conf, the hba file,
// postgresql.conf's include line, standby.signal): write "<path>.walrep-tmp" with mode
// 0600 owned by the data directory's owner (the server runs as that user and must be able
// to read what root wrote), fsync it, rename it over `path`, fsync the directory. A server
// (re)reading its configuration sees the old file or the new one, never a torn one.
// replay/atomic_file.h does the same for walrep's own files, which need no owner change.
// Free functions; thread-safe as long as no two callers write the same path at once.
#ifndef WALREP_ENGINE_DURABLE_FILE_H_
#define WALREP_ENGINE_DURABLE_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/atomic_file.h"

// RemoveFileDurably comes from replay/atomic_file.h, as the rest of the project uses it.

namespace walrep {

struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The owner of `path` (stat); errors per replay/errno_status.h.
absl::StatusOr<FileOwner> OwnerOf(const std::string& path);

absl::Status WriteFileDurably(const std::string& path, absl::string_view contents, FileOwner owner);


// Reads a whole regular file (at most 16 MiB: configuration files, not data).
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace walrep

#endif  // WALREP_ENGINE_DURABLE_FILE_H_
