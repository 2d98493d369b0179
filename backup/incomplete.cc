#include "backup/incomplete.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backup/path_safety.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr char kHeaderLine[] = "walrep base backup in progress\n";
constexpr absl::string_view kTablespacePrefix = "tablespace ";
// A marker lists a handful of tablespaces; anything this large was not written by us.
constexpr size_t kMaxMarkerBytes = 1 << 20;

std::string MarkerPath(absl::string_view dir) { return JoinPath(dir, kIncompleteMarkerName); }

// Writes `data` at `offset` of an open marker, fsyncs and closes it.
absl::Status WriteSyncClose(File& f, uint64_t offset, absl::string_view data) {
  RETURN_IF_ERROR(f.WriteAt(offset, data));
  RETURN_IF_ERROR(f.Sync());
  return f.Close();
}

absl::StatusOr<bool> HasMarker(int dir_fd, absl::string_view display) {
  struct stat st;
  if (fstatat(dir_fd, kIncompleteMarkerName, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    int err = errno;
    if (err == ENOENT) return false;
    return ErrnoStatus("stat", MarkerPath(display), err);
  }
  return S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadMarker(int dir_fd, absl::string_view display) {
  int fd = openat(dir_fd, kIncompleteMarkerName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;  // read before MarkerPath allocates
    return ErrnoStatus("open", MarkerPath(display), err);
  }
  UniqueFd owner(fd);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      return ErrnoStatus("read", MarkerPath(display), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxMarkerBytes) {
      return absl::FailedPreconditionError(absl::StrCat("marker ", display, " is too large"));
    }
  }
  return out;
}

// Empties the directory `dir` (open at `dir_fd`) with its marker removed last.
absl::Status ClearDir(int dir_fd, const std::string& dir, FileOps* ops) {
  RETURN_IF_ERROR(RemoveDirContents(dir_fd, kIncompleteMarkerName, dir));
  RETURN_IF_ERROR(ops->SyncDir(dir));
  return RemoveIncompleteMarker(dir, ops);
}

absl::StatusOr<UniqueFd> OpenExistingDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  return UniqueFd(fd);
}

}  // namespace

absl::Status CreateIncompleteMarker(const std::string& dir, FileOps* ops) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                   ops->Open(MarkerPath(dir), FileOps::OpenMode::kCreateExclusive));
  RETURN_IF_ERROR(WriteSyncClose(*f, 0, kHeaderLine));
  return ops->SyncDir(dir);
}

absl::Status RecordTablespaceInMarker(const std::string& dir, absl::string_view tablespace_dir,
                                      FileOps* ops) {
  if (absl::StrContains(tablespace_dir, '\n')) {
    return absl::InvalidArgumentError(
        absl::StrCat("tablespace directory \"", tablespace_dir, "\" contains a newline"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                   ops->Open(MarkerPath(dir), FileOps::OpenMode::kReadWrite));
  ASSIGN_OR_RETURN(uint64_t end, f->Size());
  return WriteSyncClose(*f, end, absl::StrCat(kTablespacePrefix, tablespace_dir, "\n"));
}

absl::Status RemoveIncompleteMarker(const std::string& dir, FileOps* ops) {
  absl::Status s = ops->Remove(MarkerPath(dir));
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  return ops->SyncDir(dir);
}

absl::StatusOr<bool> IsIncompleteWalrepBackup(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return false;
    return ErrnoStatus("open directory", dir, err);
  }
  UniqueFd owner(fd);
  return HasMarker(fd, dir);
}

absl::Status ClearIncomplete(const std::string& dir, FileOps* ops) {
  ASSIGN_OR_RETURN(UniqueFd root, OpenExistingDir(dir));
  ASSIGN_OR_RETURN(bool marked, HasMarker(root.get(), dir));
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
    ASSIGN_OR_RETURN(bool ts_marked, HasMarker(ts_fd->get(), ts));
    if (ts_marked) RETURN_IF_ERROR(ClearDir(ts_fd->get(), ts, ops));
  }
  return ClearDir(root.get(), dir, ops);
}

}  // namespace walrep
