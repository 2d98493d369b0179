// WalWriter's segment files: their names, creation (zero-filled or sparse, made durable
// in the order recovery relies on), opening, and sealing. The writer's class; split from
// wal_writer.cc to keep each file to one concern.
#include "replay/wal_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replay/logger.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Zero-fill in 128 KiB writes: with 1 MiB writes the kernel's copy into fresh page-cache
// pages took several times the CPU here (the source no longer stays in cache), and
// zero-filling dominated catch-up.
constexpr size_t kZeroChunk = size_t{128} << 10;

}  // namespace

std::string WalWriter::SegmentPath(TimelineId tli, uint64_t segno) const {
  const uint64_t size = segment_size();
  return JoinPath(options_.dir, options_.layout == Layout::kArchive
                                    ? PartialSegmentFileName(tli, segno, size)
                                    : SegmentFileName(tli, segno, size));
}

std::string WalWriter::FinalPath(TimelineId tli, uint64_t segno) const {
  return JoinPath(options_.dir, SegmentFileName(tli, segno, segment_size()));
}

absl::Status WalWriter::ZeroFill(File& f, uint64_t offset) {
  const std::string zeros(std::min<uint64_t>(kZeroChunk, segment_size()), '\0');
  for (uint64_t off = offset; off < segment_size();) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), segment_size() - off);
    RETURN_IF_ERROR(f.WriteAt(off, absl::string_view(zeros).substr(0, n)));
    off += n;
  }
  return absl::OkStatus();
}

absl::Status WalWriter::CreatePaddedFile(const std::string& path, absl::string_view prefix,
                                         bool sync, bool sparse) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  auto fill = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                     ops_->Open(tmp, FileOps::OpenMode::kCreateTruncate));
    if (options_.on_file_created) RETURN_IF_ERROR(options_.on_file_created(tmp));
    if (!prefix.empty()) RETURN_IF_ERROR(f->WriteAt(0, prefix));
    if (sparse) {
      RETURN_IF_ERROR(f->Truncate(segment_size()));
    } else {
      RETURN_IF_ERROR(ZeroFill(*f, prefix.size()));
    }
    // Without a prefix, no fsync of the zeros here: they would reach the disk once now
    // and again when the WAL overwrites them. The first Flush() of this segment makes
    // data, size and (via the pending directory sync) the name durable together, before
    // flush_lsn moves into the segment; a crash before that leaves at worst a short
    // file, which Start refuses and recovery skips. A prefix is WAL already counted as
    // durable: it must be on disk before the name that makes recovery read it.
    if (sync) RETURN_IF_ERROR(f->Sync());
    RETURN_IF_ERROR(f->Close());
    RETURN_IF_ERROR(ops_->Rename(tmp, path));
    if (sync) {
      RETURN_IF_ERROR(ops_->SyncDir(options_.dir));
    } else {
      dir_sync_pending_ = true;
    }
    return absl::OkStatus();
  };
  absl::Status s = fill();
  if (!s.ok()) {
    ops_->Remove(tmp).IgnoreError();  // free the space a failed fill took (ENOSPC)
    return Fail(std::move(s));
  }
  return absl::OkStatus();
}

absl::Status WalWriter::OpenSegment(TimelineId tli, uint64_t segno, uint64_t offset) {
  std::string path = SegmentPath(tli, segno);
  bool final_name = options_.layout == Layout::kInPlace;
  absl::StatusOr<uint64_t> size = ops_->FileSize(path);
  if (absl::IsNotFound(size.status()) && offset > 0 && options_.layout == Layout::kArchive) {
    // Continuing a segment that was sealed before a crash cut the record crossing out of
    // it: its final name holds it.
    const std::string sealed = FinalPath(tli, segno);
    absl::StatusOr<uint64_t> sealed_size = ops_->FileSize(sealed);
    if (sealed_size.ok() || !absl::IsNotFound(sealed_size.status())) {
      path = sealed;
      size = sealed_size;
      final_name = true;
    }
  }
  if (!size.ok() && !absl::IsNotFound(size.status())) return Fail(size.status());
  const bool usable = size.ok() && *size == segment_size();
  if (offset > 0 && !usable) {
    if (!size.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot continue WAL mid-segment: ", path, " does not exist"));
    }
    return absl::DataLossError(absl::StrCat("WAL segment ", path, " has ", *size,
                                            " bytes, expected ", segment_size()));
  }
  if (!usable) RETURN_IF_ERROR(CreatePaddedFile(path, {}, /*sync=*/false, catching_up_));
  absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(path, FileOps::OpenMode::kReadWrite);
  if (!f.ok()) return Fail(f.status());
  file_sparse_ = !usable && catching_up_;
  // Continuing a file: make what an earlier process wrote durable before flush_lsn
  // claims it is.
  if (offset > 0) {
    absl::Status s = (*f)->Sync();
    if (!s.ok()) return Fail(std::move(s));
  }
  file_ = std::move(*f);
  file_segno_ = segno;
  file_final_ = final_name;
  return absl::OkStatus();
}

absl::Status WalWriter::CloseSegment(bool seal) {
  if (file_ == nullptr) return absl::OkStatus();
  const std::string path = file_->path();
  absl::Status s = stage_.End();
  if (s.ok()) s = file_->Sync();
  if (s.ok()) s = file_->Close();
  if (!s.ok()) return Fail(std::move(s));
  file_.reset();
  synced_ = write_lsn().value();
  if (dir_sync_pending_) {
    s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
    dir_sync_pending_ = false;
  }
  if (!seal) return absl::OkStatus();
  if (!file_final_) {
    const std::string final_path = JoinPath(
        options_.dir, SegmentFileName(timeline(), file_segno_, segment_size()));
    s = ops_->Rename(path, final_path);
    if (s.ok()) s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
  }
  ReplayLogger().info("WAL segment {} sealed",
                      SegmentFileName(timeline(), file_segno_, segment_size()));
  return absl::OkStatus();
}

absl::Status WalWriter::SealCompletedPartial(TimelineId tli, Lsn record) {
  const uint64_t seg = segment_size();
  if (options_.layout != Layout::kArchive || record.value() % seg != 0 || record.value() < seg) {
    return absl::OkStatus();
  }
  // A record ended exactly at the end of the previous segment, which was fsynced but not
  // yet renamed when the last process stopped: the segment is complete, so it gets its
  // final name now (else it would stay ".partial" in the middle of the archive, where a
  // restore_command looking for its name would not find it).
  const uint64_t segno = record.value() / seg - 1;
  const std::string partial = SegmentPath(tli, segno);
  const std::string final_path = FinalPath(tli, segno);
  absl::StatusOr<uint64_t> size = ops_->FileSize(partial);
  if (!size.ok() || *size != seg || ops_->FileSize(final_path).ok()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(partial, FileOps::OpenMode::kReadWrite);
  absl::Status s = f.status();
  if (s.ok()) s = (*f)->Sync();
  if (s.ok()) s = (*f)->Close();
  if (s.ok()) s = ops_->Rename(partial, final_path);
  if (s.ok()) s = ops_->SyncDir(options_.dir);
  if (!s.ok()) return Fail(std::move(s));
  ReplayLogger().info("WAL segment {} sealed (complete at restart)",
                      SegmentFileName(tli, segno, seg));
  return absl::OkStatus();
}

}  // namespace walrep
