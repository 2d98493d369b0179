// The "backup in progress" marker. A base backup interrupted half-way must never look like
// a usable data directory, so the extractor creates `<target>/.walrep_backup_incomplete`
// before writing anything else and removes it only after backup_manifest is written and
// every file and directory is fsynced. The marker also lists the tablespace directories
// the backup wrote outside the target, so an aborted backup can be cleared completely.
// Format: incomplete_marker.md.
//
// All functions are thread-safe; two callers racing on the same directory are not.
#ifndef WALREP_BACKUP_INCOMPLETE_H_
#define WALREP_BACKUP_INCOMPLETE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

inline constexpr char kIncompleteMarkerName[] = ".walrep_backup_incomplete";

// Creates the marker in `dir_fd` (which must not have one yet) and makes it durable.
absl::Status CreateIncompleteMarker(int dir_fd, absl::string_view display);

// Appends a tablespace directory to the marker in `dir_fd`, durably, before anything is
// written there.
absl::Status RecordTablespaceInMarker(int dir_fd, absl::string_view tablespace_dir,
                                      absl::string_view display);

// Removes the marker from `dir_fd` and fsyncs the directory.
absl::Status RemoveIncompleteMarker(int dir_fd, absl::string_view display);

// True when `dir` exists and holds the marker (a regular file, not a symlink).
absl::StatusOr<bool> IsIncompleteWalrepBackup(const std::string& dir);

// Empties an incomplete backup so it can be fetched again: first every tablespace
// directory listed in the marker that carries a marker of its own, then `dir` itself,
// each marker last so an interrupted clear still reads as incomplete. Symlinks are removed,
// never followed. FailedPrecondition when `dir` has no marker: a complete data directory
// is never wiped by this.
absl::Status ClearIncomplete(const std::string& dir);

}  // namespace walrep

#endif  // WALREP_BACKUP_INCOMPLETE_H_
