#include "backup/backup_target.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/logging.h"
#include "backup/incomplete.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("backup"); }

}  // namespace

std::string StripTrailingSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool IsWithin(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir == "/" ? dir : dir + "/");
}

absl::Status PrepareTarget(const std::string& target) {
  DIR* d = opendir(target.c_str());
  if (d == nullptr) {
    int err = errno;
    if (err == ENOENT) return absl::OkStatus();  // the extractor creates it
    return ErrnoStatus("open target directory", target, err);
  }
  bool empty = true;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  closedir(d);
  if (empty) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool incomplete, IsIncompleteWalrepBackup(target));
  if (!incomplete) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target directory \"", target,
        "\" is not empty and is not an interrupted walrep backup; choose an empty directory"));
  }
  Log()->info("clearing the interrupted backup in {}", target);
  return ClearIncomplete(target);
}

void StartWriteback(const std::string& dir) {
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat* st, int type, FTW*) {
        if (type != FTW_F || !S_ISREG(st->st_mode)) return 0;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
          (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
          close(fd);
        }
        return 0;
      },
      64, FTW_PHYS);
}

absl::Status ValidateBackupTarget(const std::string& target_dir, const std::string& data_dir) {
  if (target_dir.empty()) return absl::InvalidArgumentError("target_dir is empty");
  if (target_dir.find('\0') != std::string::npos || target_dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("target_dir \"", target_dir, "\" must be an absolute path"));
  }
  for (absl::string_view part : absl::StrSplit(target_dir, '/')) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("target_dir \"", target_dir, "\" must not contain \".\" or \"..\""));
    }
  }
  std::string target = StripTrailingSlashes(target_dir);
  if (target == "/") return absl::InvalidArgumentError("target_dir must not be \"/\"");
  if (!data_dir.empty()) {
    std::string dd = StripTrailingSlashes(data_dir);
    if (IsWithin(dd, target) || IsWithin(target, dd + "/wal") ||
        IsWithin(target, dd + "/replication")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "target_dir \"", target_dir, "\" overlaps the agent's data directory ", dd));
    }
  }
  return absl::OkStatus();
}

}  // namespace walrep
