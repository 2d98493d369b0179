#include "replay/wal_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replay/logger.h"
#include "replay/timeline_history.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Zero-fill in 128 KiB writes: with 1 MiB writes the kernel's copy into fresh page-cache
// pages took several times the CPU here (the source no longer stays in cache), and
// zero-filling dominated catch-up.
constexpr size_t kZeroChunk = size_t{128} << 10;

}  // namespace

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Create(Options options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("WAL directory is empty");
  RETURN_IF_ERROR(ValidateSegmentSize(options.segment_size));
  if (options.file_ops == nullptr) options.file_ops = DefaultFileOps();
  RETURN_IF_ERROR(options.file_ops->CreateDir(options.dir));
  return std::unique_ptr<WalWriter>(new WalWriter(std::move(options)));
}

WalWriter::WalWriter(Options options)
    : options_(std::move(options)), ops_(options_.file_ops) {}

WalWriter::~WalWriter() {
  if (file_ != nullptr && write_lsn() > flush_lsn()) {
    ReplayLogger().warn("WAL writer destroyed with unflushed WAL from {} to {} in {}",
                        flush_lsn().ToString(), write_lsn().ToString(), file_->path());
  }
}

absl::Status WalWriter::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

absl::Status WalWriter::Fail(absl::Status status) {
  file_.reset();  // no further I/O through a descriptor whose state is unknown
  absl::Status first;
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) {
      failure_ = std::move(status);
      ReplayLogger().error("WAL writer failed; flush position stays at {}: {}",
                           flush_lsn().ToString(), failure_.ToString());
    }
    first = failure_;
    failed_.store(true, std::memory_order_release);
  }
  return first;
}

void WalWriter::SetFlushed(Lsn lsn) {
  Lsn old;
  {
    absl::MutexLock lock(&mu_);
    old = Lsn(flush_lsn_.exchange(lsn.value(), std::memory_order_acq_rel));
  }
  if (lsn > old && options_.on_flush) options_.on_flush(lsn);
}

bool WalWriter::WaitForFlushBeyond(Lsn lsn, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, lsn]() {
    return flush_lsn_.load(std::memory_order_acquire) > lsn.value() ||
           failed_.load(std::memory_order_acquire);
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return flush_lsn_.load(std::memory_order_acquire) > lsn.value();
}

std::string WalWriter::SegmentPath(TimelineId tli, uint64_t segno) const {
  const uint64_t size = options_.segment_size;
  return JoinPath(options_.dir, options_.layout == Layout::kArchive
                                    ? PartialSegmentFileName(tli, segno, size)
                                    : SegmentFileName(tli, segno, size));
}

absl::Status WalWriter::CreatePaddedFile(const std::string& path) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  auto fill = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                     ops_->Open(tmp, FileOps::OpenMode::kCreateTruncate));
    const std::string zeros(std::min<uint64_t>(kZeroChunk, options_.segment_size), '\0');
    for (uint64_t off = 0; off < options_.segment_size; off += zeros.size()) {
      RETURN_IF_ERROR(f->WriteAt(off, zeros));
    }
    // No fsync of the zeros here: they would reach the disk once now and again when the
    // WAL overwrites them. The first Flush() of this segment makes data, size and (via
    // the pending directory sync) the name durable together, before flush_lsn moves into
    // the segment; a crash before that leaves at worst a short file, which Start()
    // refuses and the restart scan skips.
    RETURN_IF_ERROR(f->Close());
    RETURN_IF_ERROR(ops_->Rename(tmp, path));
    dir_sync_pending_ = true;
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
  const std::string path = SegmentPath(tli, segno);
  absl::StatusOr<uint64_t> size = ops_->FileSize(path);
  if (!size.ok() && !absl::IsNotFound(size.status())) return Fail(size.status());
  const bool usable = size.ok() && *size == options_.segment_size;
  if (offset > 0 && !usable) {
    if (!size.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot continue WAL mid-segment: ", path, " does not exist"));
    }
    return absl::DataLossError(absl::StrCat("WAL segment ", path, " has ", *size,
                                            " bytes, expected ", options_.segment_size));
  }
  if (!usable) RETURN_IF_ERROR(CreatePaddedFile(path));
  absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(path, FileOps::OpenMode::kReadWrite);
  if (!f.ok()) return Fail(f.status());
  // Continuing a file: make what an earlier process wrote durable before flush_lsn
  // claims it is.
  if (offset > 0) {
    absl::Status s = (*f)->Sync();
    if (!s.ok()) return Fail(std::move(s));
  }
  file_ = std::move(*f);
  file_segno_ = segno;
  return absl::OkStatus();
}

absl::Status WalWriter::CloseSegment(bool seal) {
  if (file_ == nullptr) return absl::OkStatus();
  const std::string path = file_->path();
  absl::Status s = file_->Sync();
  if (s.ok()) s = file_->Close();
  if (!s.ok()) return Fail(std::move(s));
  file_.reset();
  if (dir_sync_pending_) {
    s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
    dir_sync_pending_ = false;
  }
  if (!seal) return absl::OkStatus();
  if (options_.layout == Layout::kArchive) {
    const std::string final_path = JoinPath(
        options_.dir, SegmentFileName(timeline(), file_segno_, options_.segment_size));
    s = ops_->Rename(path, final_path);
    if (s.ok()) s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
  }
  ReplayLogger().info("WAL segment {} sealed",
                      SegmentFileName(timeline(), file_segno_, options_.segment_size));
  return absl::OkStatus();
}

absl::Status WalWriter::Start(TimelineId tli, Lsn start) {
  if (failed()) return failure();
  if (tli == 0) return absl::InvalidArgumentError("timeline 0 is invalid");
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  started_ = false;
  const uint64_t segno = SegmentNumber(start, options_.segment_size);
  const uint64_t offset = start.value() % options_.segment_size;
  RETURN_IF_ERROR(OpenSegment(tli, segno, offset));
  tli_.store(tli, std::memory_order_release);
  write_lsn_.store(start.value(), std::memory_order_release);
  SetFlushed(start);
  started_ = true;
  ReplayLogger().debug("WAL writer positioned at {} on timeline {} in {}",
                       start.ToString(), tli, file_->path());
  return absl::OkStatus();
}

absl::Status WalWriter::Append(Lsn start, absl::string_view bytes) {
  if (failed()) return failure();
  if (!started_) return absl::FailedPreconditionError("WAL writer is not started");
  if (start != write_lsn()) {
    return absl::DataLossError(absl::StrCat("WAL is not continuous: received bytes at ",
                                            start.ToString(), " but the next expected is ",
                                            write_lsn().ToString()));
  }
  if (bytes.size() > UINT64_MAX - start.value()) {
    return absl::InvalidArgumentError("WAL chunk runs past the end of the LSN space");
  }
  const uint64_t seg_size = options_.segment_size;
  while (!bytes.empty()) {
    const Lsn pos = write_lsn();
    const uint64_t segno = SegmentNumber(pos, seg_size);
    const uint64_t offset = pos.value() % seg_size;
    // Segments are closed exactly at their end, so a missing file means offset 0.
    if (file_ == nullptr) RETURN_IF_ERROR(OpenSegment(timeline(), segno, offset));
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), seg_size - offset));
    absl::Status s = file_->WriteAt(offset, bytes.substr(0, n));
    if (!s.ok()) return Fail(std::move(s));
    write_lsn_.store(pos.value() + n, std::memory_order_release);
    bytes.remove_prefix(n);
    if (offset + n == seg_size) RETURN_IF_ERROR(CloseSegment(/*seal=*/true));
  }
  return absl::OkStatus();
}

absl::Status WalWriter::Flush() {
  if (failed()) return failure();
  if (file_ != nullptr) {
    absl::Status s = file_->Sync();
    if (!s.ok()) return Fail(std::move(s));
  }
  if (dir_sync_pending_) {
    absl::Status s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
    dir_sync_pending_ = false;
  }
  // Completed segments were fsynced when sealed, so everything below write_lsn is durable.
  SetFlushed(write_lsn());
  return absl::OkStatus();
}

absl::Status WalWriter::SwitchTimeline(TimelineId new_tli, Lsn switch_lsn) {
  if (failed()) return failure();
  if (!started_) return absl::FailedPreconditionError("WAL writer is not started");
  if (new_tli <= timeline()) {
    return absl::InvalidArgumentError(absl::StrCat("new timeline ", new_tli,
                                                   " does not follow timeline ", timeline()));
  }
  const Lsn restart = switch_lsn.SegmentStart(options_.segment_size);
  if (write_lsn() > switch_lsn) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WAL written up to ", write_lsn().ToString(), " on timeline ", timeline(),
        " lies past the switch point ", switch_lsn.ToString(), " to timeline ", new_tli));
  }
  if (write_lsn() < restart) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WAL written only up to ", write_lsn().ToString(), " on timeline ", timeline(),
        "; stream it to the switch point ", switch_lsn.ToString(), " first"));
  }
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  SetFlushed(write_lsn());
  ReplayLogger().info("timeline switch {} -> {} at {}; restarting at {}", timeline(), new_tli,
                      switch_lsn.ToString(), restart.ToString());
  return Start(new_tli, restart);
}

absl::Status WalWriter::Close() {
  if (failed()) {
    file_.reset();
    return failure();
  }
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  if (started_) SetFlushed(write_lsn());
  started_ = false;
  return absl::OkStatus();
}

absl::Status WalWriter::WriteHistoryFile(TimelineId tli, absl::string_view content) {
  return walrep::WriteHistoryFile(options_.dir, tli, content, ops_);
}

}  // namespace walrep
