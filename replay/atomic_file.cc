#include "replay/atomic_file.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {

absl::Status FsyncDir(const std::string& dir, FileOps* ops) { return ops->SyncDir(dir); }

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 FileOps* ops) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  auto write_tmp = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                     ops->Open(tmp, FileOps::OpenMode::kCreateTruncate));
    RETURN_IF_ERROR(f->WriteAt(0, contents));
    RETURN_IF_ERROR(f->Sync());
    return f->Close();
  };
  absl::Status s = write_tmp();
  if (s.ok()) s = ops->Rename(tmp, path);
  if (!s.ok()) {
    ops->Remove(tmp).IgnoreError();  // best effort; a stale .tmp is harmless
    return s;
  }
  return ops->SyncDir(DirName(path));
}

absl::Status RemoveFileDurably(const std::string& path, FileOps* ops) {
  absl::Status removed = ops->Remove(path);
  if (absl::IsNotFound(removed)) return absl::OkStatus();
  RETURN_IF_ERROR(removed);
  return ops->SyncDir(DirName(path));
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          FileOps* ops) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(path, FileOps::OpenMode::kRead));
  std::string out;
  char buf[4096];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, f->ReadAt(out.size(), sizeof(buf), buf));
    if (n == 0) break;
    if (out.size() + n > max_bytes) {
      return absl::DataLossError(
          absl::StrCat(path, ": file is larger than the ", max_bytes, " bytes expected"));
    }
    out.append(buf, n);
  }
  return out;
}

}  // namespace walrep
