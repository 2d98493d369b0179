#include "backup/incomplete.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backup/path_safety.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr char kHeaderLine[] = "walrep base backup in progress\n";
constexpr absl::string_view kTablespacePrefix = "tablespace ";
// A marker lists a handful of tablespaces; anything this large was not written by us.
constexpr size_t kMaxMarkerBytes = 1 << 20;

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view display) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", display);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> HasMarker(int dir_fd) {
  struct stat st;
  if (fstatat(dir_fd, kIncompleteMarkerName, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "stat", kIncompleteMarkerName);
  }
  return S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadMarker(int dir_fd, absl::string_view display) {
  int fd = openat(dir_fd, kIncompleteMarkerName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", display);
  UniqueFd owner(fd);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", display);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxMarkerBytes) {
      return absl::FailedPreconditionError(absl::StrCat("marker ", display, " is too large"));
    }
  }
  return out;
}

// Empties `dir_fd` with its marker removed last.
absl::Status ClearDir(int dir_fd, const std::string& display) {
  RETURN_IF_ERROR(RemoveDirContents(dir_fd, kIncompleteMarkerName, display));
  RETURN_IF_ERROR(FsyncFd(dir_fd, display));
  return RemoveIncompleteMarker(dir_fd, display);
}

absl::StatusOr<UniqueFd> OpenExistingDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir);
  return UniqueFd(fd);
}

}  // namespace

absl::Status CreateIncompleteMarker(int dir_fd, absl::string_view display) {
  std::string path = absl::StrCat(display, "/", kIncompleteMarkerName);
  int fd = openat(dir_fd, kIncompleteMarkerName,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  UniqueFd owner(fd);
  RETURN_IF_ERROR(WriteAll(fd, kHeaderLine, path));
  RETURN_IF_ERROR(FsyncFd(fd, path));
  RETURN_IF_ERROR(owner.Close(path));
  return FsyncFd(dir_fd, display);
}

absl::Status RecordTablespaceInMarker(int dir_fd, absl::string_view tablespace_dir,
                                      absl::string_view display) {
  std::string path = absl::StrCat(display, "/", kIncompleteMarkerName);
  if (absl::StrContains(tablespace_dir, '\n')) {
    return absl::InvalidArgumentError(
        absl::StrCat("tablespace directory \"", tablespace_dir, "\" contains a newline"));
  }
  int fd = openat(dir_fd, kIncompleteMarkerName, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  UniqueFd owner(fd);
  RETURN_IF_ERROR(WriteAll(fd, absl::StrCat(kTablespacePrefix, tablespace_dir, "\n"), path));
  RETURN_IF_ERROR(FsyncFd(fd, path));
  return owner.Close(path);
}

absl::Status RemoveIncompleteMarker(int dir_fd, absl::string_view display) {
  if (unlinkat(dir_fd, kIncompleteMarkerName, 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", absl::StrCat(display, "/", kIncompleteMarkerName));
  }
  return FsyncFd(dir_fd, display);
}

absl::StatusOr<bool> IsIncompleteWalrepBackup(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "open directory", dir);
  }
  UniqueFd owner(fd);
  return HasMarker(fd);
}

absl::Status ClearIncomplete(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd root, OpenExistingDir(dir));
  ASSIGN_OR_RETURN(bool marked, HasMarker(root.get()));
  if (!marked) {
    return absl::FailedPreconditionError(
        absl::StrCat("directory \"", dir, "\" is not an incomplete walrep backup"));
  }
  ASSIGN_OR_RETURN(std::string marker, ReadMarker(root.get(), dir));
  for (absl::string_view line : absl::StrSplit(marker, '\n', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&line, kTablespacePrefix)) continue;
    std::string ts(line);
    auto ts_fd = OpenExistingDir(ts);
    if (!ts_fd.ok()) {
      if (absl::IsNotFound(ts_fd.status())) continue;  // never created
      return ts_fd.status();
    }
    // Only a directory carrying its own marker was started by us and is ours to empty.
    ASSIGN_OR_RETURN(bool ts_marked, HasMarker(ts_fd->get()));
    if (ts_marked) RETURN_IF_ERROR(ClearDir(ts_fd->get(), ts));
  }
  return ClearDir(root.get(), dir);
}

}  // namespace walrep
