#include "replay/wal_import.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replay/segment.h"
#include "replay/wal_files.h"
#include "replay/wal_recovery.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr size_t kCopyChunk = size_t{1} << 20;

// Copies `from` to `to` through "<to>.tmp": written, fsynced, renamed (the caller
// fsyncs the directory).
absl::Status CopyFile(const std::string& from, const std::string& to, FileOps* ops) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> in, ops->Open(from, FileOps::OpenMode::kRead));
  const std::string tmp = absl::StrCat(to, ".tmp");
  ASSIGN_OR_RETURN(std::unique_ptr<File> out, ops->Open(tmp, FileOps::OpenMode::kCreateTruncate));
  std::string buf(kCopyChunk, '\0');
  for (uint64_t off = 0;;) {
    ASSIGN_OR_RETURN(size_t got, in->ReadAt(off, buf.size(), buf.data()));
    if (got == 0) break;
    RETURN_IF_ERROR(out->WriteAt(off, absl::string_view(buf.data(), got)));
    off += got;
  }
  RETURN_IF_ERROR(out->Sync());
  RETURN_IF_ERROR(out->Close());
  return ops->Rename(tmp, to);
}

}  // namespace

absl::StatusOr<ImportedWal> ImportWalIntoArchive(const std::string& from, const std::string& to,
                                                 uint64_t segment_size, uint64_t system_id,
                                                 FileOps* ops) {
  ImportedWal out;
  ASSIGN_OR_RETURN(std::optional<RecoveredWal> wal,
                   RecoverWal(from, segment_size, system_id, ops, /*in_place=*/true));
  if (!wal || !wal->end.valid()) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ops->ListDir(from));
  ASSIGN_OR_RETURN(TimelineChain chain, LoadTimelineChain(from, wal->tli, ops));

  // The segment holding the end, or the one completed by it (an end at a boundary).
  const bool at_boundary = IsSegmentBoundary(wal->end, segment_size);
  const uint64_t end_seg = SegmentNumber(wal->end, segment_size);
  if (at_boundary && end_seg == 0) return out;
  const uint64_t last = at_boundary ? end_seg - 1 : end_seg;
  struct Copy {
    std::string source;
    std::string name;
    bool history = false;
  };
  std::vector<Copy> copies;
  for (uint64_t segno = last;; --segno) {
    absl::StatusOr<SegmentFile> file = FindSegmentFile(from, chain, segno, segment_size, ops);
    if (absl::IsNotFound(file.status())) break;  // the run begins at the next one
    if (!file.ok()) return file.status();
    const bool complete = segno < last || at_boundary;
    copies.push_back({file->path,
                      complete ? SegmentFileName(file->tli, segno, segment_size)
                               : PartialSegmentFileName(file->tli, segno, segment_size)});
    if (segno == 0) break;
  }
  for (const std::string& name : names) {
    absl::StatusOr<WalFileName> parsed = ParseWalFileName(name, segment_size);
    if (parsed.ok() && parsed->kind == WalFileName::Kind::kHistory) {
      copies.push_back({JoinPath(from, name), name, /*history=*/true});
    }
  }
  // Oldest first: a crash part-way leaves the archive a prefix of the run.
  std::reverse(copies.begin(), copies.end());
  for (const Copy& c : copies) {
    const std::string target = JoinPath(to, c.name);
    absl::StatusOr<uint64_t> present = ops->FileSize(target);
    if (present.ok()) continue;
    if (!absl::IsNotFound(present.status())) return present.status();
    RETURN_IF_ERROR(CopyFile(c.source, target, ops));
    if (c.history) {
      ++out.history_files;
    } else {
      ++out.segments;
    }
  }
  RETURN_IF_ERROR(ops->SyncDir(to));
  return out;
}

}  // namespace walrep
