#include "backup/path_safety.h"

#include <dirent.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Deep enough for any PostgreSQL data directory, shallow enough to bound open fds.
constexpr int kMaxRemoveDepth = 64;

// Up to `limit` entry names of the directory open at `dir_fd`, "." and ".." left out.
// Reads through a duplicate descriptor, so `dir_fd` stays usable and positioned.
absl::StatusOr<std::vector<std::string>> ListNamesAt(int dir_fd, absl::string_view display,
                                                     size_t limit) {
  int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return ErrnoStatus("dup", display, errno);
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    int err = errno;
    close(dup_fd);
    return ErrnoStatus("fdopendir", display, err);
  }
  rewinddir(dir);
  std::vector<std::string> names;
  errno = 0;
  while (names.size() < limit) {
    struct dirent* e = readdir(dir);
    if (e == nullptr) break;
    absl::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  closedir(dir);
  if (names.size() < limit && err != 0) return ErrnoStatus("readdir", display, err);
  return names;
}

absl::Status RemoveDirContentsAt(int dir_fd, absl::string_view keep, const std::string& display,
                                 int depth) {
  if (depth > kMaxRemoveDepth) {
    return absl::FailedPreconditionError(absl::StrCat("directory tree too deep at ", display));
  }
  // Names are collected first: unlinking while readdir walks the same stream is unspecified.
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListNamesAt(dir_fd, display, SIZE_MAX));
  for (const std::string& name : names) {
    if (name == keep) continue;
    std::string path = absl::StrCat(display, "/", name);
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoStatus("stat", path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      ASSIGN_OR_RETURN(UniqueFd sub, OpenDirAt(dir_fd, name, /*create=*/false, path));
      RETURN_IF_ERROR(RemoveDirContentsAt(sub.get(), "", path, depth + 1));
      if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        return ErrnoStatus("rmdir", path, errno);
      }
    } else if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("unlink", path, errno);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitMemberPath(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsafe archive path \"", absl::CHexEscape(name), "\": ", why));
  };
  if (name.size() > kMaxMemberPathBytes) return bad("too long");
  if (name.find('\0') != absl::string_view::npos) return bad("contains NUL");
  if (!name.empty() && name.front() == '/') return bad("absolute path");
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return bad("contains ..");
    if (part.size() > kMaxComponentBytes) return bad("component too long");
    out.emplace_back(part);
  }
  if (out.empty()) return bad("empty name");
  return out;
}

std::string JoinPath(absl::Span<const std::string> components) {
  return absl::StrJoin(components, "/");
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status UniqueFd::Close(absl::string_view what) {
  if (fd_ < 0) return absl::OkStatus();
  int rc = close(std::exchange(fd_, -1));
  // Linux releases the descriptor even when close fails, so EINTR must not be retried.
  if (rc != 0 && errno != EINTR) return ErrnoStatus("close", what, errno);
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenDirAt(int dir_fd, const std::string& name, bool create,
                                   absl::string_view display) {
  if (create && mkdirat(dir_fd, name.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir", display, errno);
  }
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", display, errno);
  return UniqueFd(fd);
}

absl::StatusOr<UniqueFd> WalkDirs(int root_fd, absl::Span<const std::string> components,
                                  bool create, absl::string_view display) {
  int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", display, errno);
  UniqueFd current(fd);
  for (const std::string& c : components) {
    ASSIGN_OR_RETURN(current, OpenDirAt(current.get(), c, create, display));
  }
  return current;
}

absl::StatusOr<UniqueFd> OpenOrCreateDir(const std::string& path, bool* created) {
  *created = false;
  if (path.empty()) return absl::InvalidArgumentError("empty directory path");
  // mkdir -p: every prefix, tolerating the ones that exist.
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir", prefix, errno);
    }
  }
  if (mkdir(path.c_str(), 0700) == 0) {
    *created = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus("mkdir", path, errno);
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", path, errno);
  return UniqueFd(fd);
}

absl::StatusOr<UniqueFd> OpenUntrustedAbsoluteDir(const std::string& path, bool create,
                                                  bool* created) {
  if (created != nullptr) *created = false;
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("path \"", absl::CHexEscape(path), "\" is not absolute"));
  }
  if (path.find('\0') != std::string::npos || path.size() > kMaxMemberPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("path \"", absl::CHexEscape(path), "\" is not a usable directory name"));
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("path \"", absl::CHexEscape(path), "\" has a \"", part, "\" component"));
    }
    parts.emplace_back(part);
  }
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", "/", errno);
  UniqueFd current(fd);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (create) {
      if (mkdirat(current.get(), parts[i].c_str(), 0700) == 0) {
        if (created != nullptr && i + 1 == parts.size()) *created = true;
      } else if (errno != EEXIST) {
        return ErrnoStatus("mkdir", path, errno);
      }
    }
    ASSIGN_OR_RETURN(current, OpenDirAt(current.get(), parts[i], /*create=*/false, path));
  }
  return current;
}

absl::StatusOr<bool> IsDirEmpty(int dir_fd, absl::string_view display) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListNamesAt(dir_fd, display, 1));
  return names.empty();
}

absl::Status FsyncFd(int fd, absl::string_view display) {
  if (fsync(fd) != 0) return ErrnoStatus("fsync", display, errno);
  return absl::OkStatus();
}

absl::Status WriteAllFd(int fd, absl::string_view data, absl::string_view display) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", display, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RemoveDirContents(int dir_fd, absl::string_view keep, absl::string_view display) {
  return RemoveDirContentsAt(dir_fd, keep, std::string(display), 0);
}

}  // namespace walrep
