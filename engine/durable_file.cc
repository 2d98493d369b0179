#include "engine/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "replay/atomic_file.h"
#include "replay/errno_status.h"
#include "replay/file_ops.h"

namespace walrep {
namespace {

constexpr size_t kMaxConfigBytes = 16 << 20;

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileOwner> OwnerOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return ErrnoStatus("stat", path, errno);
  return FileOwner{st.st_uid, st.st_gid};
}

absl::Status WriteFileDurably(const std::string& path, absl::string_view contents,
                              FileOwner owner) {
  const std::string tmp = absl::StrCat(path, ".walrep-tmp");
  unlink(tmp.c_str());  // a leftover of an interrupted write; O_EXCL below refuses symlinks
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", tmp, errno);
  absl::Status s;
  if (fchown(fd, owner.uid, owner.gid) < 0 && (errno != EPERM || geteuid() == 0)) {
    s = ErrnoStatus("chown", tmp, errno);
  }
  if (s.ok()) s = WriteAll(fd, contents, tmp);
  if (s.ok() && fsync(fd) < 0) s = ErrnoStatus("fsync", tmp, errno);
  if (close(fd) < 0 && s.ok()) s = ErrnoStatus("close", tmp, errno);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) < 0) s = ErrnoStatus("rename", tmp, errno);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(DirName(path));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  return ReadSmallFile(path, kMaxConfigBytes);
}

}  // namespace walrep
