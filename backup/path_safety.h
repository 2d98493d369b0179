// Safe placement of archive members on disk. Archive names come from the primary and are
// untrusted: a name must not reach outside the directory it is extracted into, neither by
// "..", nor by an absolute path, nor through a symlink planted earlier in the same archive.
// So names are split and checked here (pure), and files are created by walking a directory
// fd one component at a time with O_NOFOLLOW, never by handing a joined path to the kernel.
//
// Failed system calls are reported with ErrnoStatus (replay/errno_status.h): a symlink
// met under O_NOFOLLOW (ELOOP) or a file where a directory must be (ENOTDIR) is
// InvalidArgument, the code for a hostile archive.
//
// The free functions are thread-safe; UniqueFd is a move-only owner, thread-compatible.
#ifndef WALREP_BACKUP_PATH_SAFETY_H_
#define WALREP_BACKUP_PATH_SAFETY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace walrep {

// Caps that keep a hostile name from costing more than a real one could.
inline constexpr size_t kMaxMemberPathBytes = 4096;
inline constexpr size_t kMaxComponentBytes = 255;

// Splits `name` into components to create under a root. Empty components and "." are
// dropped (PostgreSQL sends "./pg_wal/archive_status/" and trailing slashes). Rejected
// with InvalidArgument naming the path: empty result, absolute path, any "..", a NUL byte,
// over-long names.
absl::StatusOr<std::vector<std::string>> SplitMemberPath(absl::string_view name);

// Components joined by '/': the canonical relative form (what backup_manifest uses).
std::string JoinPath(absl::Span<const std::string> components);

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();
  // Gives up ownership: the caller closes the returned descriptor.
  int Release() { return std::exchange(fd_, -1); }
  // Closes now and reports a failed close (a late write error on some filesystems).
  absl::Status Close(absl::string_view what);

 private:
  int fd_ = -1;
};

// Opens (and with `create`, makes with mode 0700) the directory `name` inside `dir_fd`,
// refusing to follow a symlink. `display` names the path in errors.
absl::StatusOr<UniqueFd> OpenDirAt(int dir_fd, const std::string& name, bool create,
                                   absl::string_view display);

// Walks `components` from `root_fd` with OpenDirAt and returns the last directory's fd.
// Every component must be a real directory (a symlink anywhere is an error).
absl::StatusOr<UniqueFd> WalkDirs(int root_fd, absl::Span<const std::string> components,
                                  bool create, absl::string_view display);

// Opens an operator-supplied directory (target dir, mapped tablespace), creating it and
// its missing parents with mode 0700. Unlike archive names, this path is trusted, so
// symlinks along it are followed, as pg_basebackup does. `*created` says whether the last
// component was made here.
absl::StatusOr<UniqueFd> OpenOrCreateDir(const std::string& path, bool* created);

// Opens an absolute directory path the operator did not choose (a tablespace location the
// primary sent) from "/" one component at a time with O_NOFOLLOW|O_DIRECTORY, creating
// missing components (mode 0700, mkdirat) when `create`: a symlink anywhere along it is
// refused (InvalidArgument), never followed or created through. Relative paths and "."
// or ".." components are InvalidArgument. `*created` (may be null) says whether the last
// component was made here.
absl::StatusOr<UniqueFd> OpenUntrustedAbsoluteDir(const std::string& path, bool create,
                                                  bool* created);

// True when the directory holds no entry besides "." and "..".
absl::StatusOr<bool> IsDirEmpty(int dir_fd, absl::string_view display);

// fsync(2), with the path in the error.
absl::Status FsyncFd(int fd, absl::string_view display);
// write(2) until all of `data` is written (EINTR and short writes retried).
absl::Status WriteAllFd(int fd, absl::string_view data, absl::string_view display);

// Removes everything inside `dir_fd` except a top-level entry named `keep` (may be empty),
// descending into subdirectories by fd with O_NOFOLLOW: a symlink is removed, never
// followed.
absl::Status RemoveDirContents(int dir_fd, absl::string_view keep, absl::string_view display);

}  // namespace walrep

#endif  // WALREP_BACKUP_PATH_SAFETY_H_
