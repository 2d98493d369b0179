// The "backup in progress" marker. A base backup interrupted half-way must never look like
// a usable data directory, so the extractor creates `<target>/.walrep_backup_incomplete`
// before writing anything else and removes it only after backup_manifest is written and
// every file and directory is fsynced. The marker also lists the tablespace directories
// the backup wrote outside the target, so an aborted backup can be cleared completely.
// Format: incomplete_marker.md.
//
// The marker's writes — create, append, remove, and the fsyncs that make each durable — go
// through FileOps (replay/file_ops.h), so fault-injection tests reach them. The probe that
// decides whether a directory may be wiped (IsIncompleteWalrepBackup, and the same check in
// ClearIncomplete) reads the marker by directory fd without following a symlink, which
// FileOps does not express; it writes nothing.
//
// All functions are thread-safe; two callers racing on the same directory are not.
#ifndef WALREP_BACKUP_INCOMPLETE_H_
#define WALREP_BACKUP_INCOMPLETE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/file_ops.h"

namespace walrep {

inline constexpr char kIncompleteMarkerName[] = ".walrep_backup_incomplete";

// Creates the marker in `dir` and makes it durable (the file, then `dir`).
// AlreadyExists when anything, a symlink included, is at the marker's name.
absl::Status CreateIncompleteMarker(const std::string& dir, FileOps* ops = DefaultFileOps());

// Appends a tablespace directory to the marker in `dir`, durably, before anything is
// written there.
absl::Status RecordTablespaceInMarker(const std::string& dir, absl::string_view tablespace_dir,
                                      FileOps* ops = DefaultFileOps());

// Removes the marker from `dir` (OK when it is absent) and fsyncs `dir`.
absl::Status RemoveIncompleteMarker(const std::string& dir, FileOps* ops = DefaultFileOps());

// True when `dir` exists and holds the marker (a regular file, not a symlink).
absl::StatusOr<bool> IsIncompleteWalrepBackup(const std::string& dir);

// Empties an incomplete backup so it can be fetched again: first every tablespace
// directory listed in the marker that carries a marker of its own, then `dir` itself,
// each marker last so an interrupted clear still reads as incomplete. Symlinks are removed,
// never followed. FailedPrecondition when `dir` has no marker: a complete data directory
// is never wiped by this. Each emptied directory is fsynced before its marker goes.
absl::Status ClearIncomplete(const std::string& dir, FileOps* ops = DefaultFileOps());

}  // namespace walrep

#endif  // WALREP_BACKUP_INCOMPLETE_H_
