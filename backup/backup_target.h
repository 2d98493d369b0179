// The directory a base backup is written into: which paths are acceptable, how a target
// left behind by an interrupted backup is reused, and a writeback hint before the fsync
// pass. Free functions; thread-safe, though two calls racing on one directory are not.
#ifndef WALREP_BACKUP_BACKUP_TARGET_H_
#define WALREP_BACKUP_BACKUP_TARGET_H_

#include <string>

#include "absl/status/status.h"

namespace walrep {

// "/a/b/" → "/a/b"; "/" stays "/".
std::string StripTrailingSlashes(std::string path);
// True when `path` is `dir` or below it (both without trailing slashes).
bool IsWithin(const std::string& path, const std::string& dir);

// Checks a target directory path: absolute, no "." or ".." components, not "/", no NUL
// (InvalidArgument), and not overlapping `data_dir`'s own state (FailedPrecondition).
absl::Status ValidateBackupTarget(const std::string& target_dir, const std::string& data_dir);

// A missing or empty target is fine (the extractor creates it). A non-empty one is
// acceptable only as an interrupted walrep backup (incomplete.h), which is emptied here,
// its tablespace directories included; anything else is FailedPrecondition. A target
// that cannot be opened is reported with its errno's code (replay/errno_status.h).
absl::Status PrepareTarget(const std::string& target);

// Asks the kernel to start writing back every regular file below `dir` without waiting, so
// that the fsyncs that follow overlap their I/O instead of flushing one file at a time
// (pg_basebackup's pre_sync_fname pass does the same). Only a hint: errors are ignored,
// symlinks are not followed, and durability still comes from the fsyncs.
void StartWriteback(const std::string& dir);

}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_TARGET_H_
