#include "replay/segment_stage.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {

SegmentStage::SegmentStage(size_t capacity, int buffers)
    : capacity_(static_cast<size_t>(AlignUp(capacity == 0 ? 1 : capacity))),
      buffers_(std::max(buffers, 2)) {}

SegmentStage::~SegmentStage() {
  if (!thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool SegmentStage::direct() const {
  absl::MutexLock lock(&mu_);
  return direct_;
}

uint64_t SegmentStage::direct_bytes() const {
  absl::MutexLock lock(&mu_);
  return direct_bytes_;
}

uint64_t SegmentStage::borrowed_bytes() const {
  absl::MutexLock lock(&mu_);
  return borrowed_bytes_;
}

absl::Status SegmentStage::Begin(File* file, uint64_t offset, uint64_t file_size,
                                 Source source) {
  if (active()) return absl::FailedPreconditionError("a file is staged already");
  if (storage_.empty()) {
    // At the first catch-up: a writer that never catches up has no buffers.
    for (int i = 0; i < buffers_; ++i) {
      AlignedBuffer b(capacity_);
      if (b.data() == nullptr) break;
      storage_.push_back(std::move(b));
    }
    absl::MutexLock lock(&mu_);
    for (AlignedBuffer& b : storage_) free_.push_back(b.data());
  }
  if (storage_.size() < 2) return absl::ResourceExhaustedError("no memory for the WAL stage");
  if (offset > file_size || file_size % kDirectIoAlignment != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot stage ", file->path(), " at offset ",
                                                   offset, " of ", file_size, " bytes"));
  }
  {
    absl::MutexLock lock(&mu_);
    cur_ = free_.back();
    free_.pop_back();
  }
  base_ = AlignDown(offset);
  staged_ = written_ = offset - base_;
  // The start of the block is WAL already written: read back, so the first write-out,
  // which must cover whole blocks, writes it again unchanged.
  for (uint64_t done = 0; done < staged_;) {
    absl::StatusOr<size_t> got = file->ReadAt(base_ + done, staged_ - done, cur_ + done);
    absl::Status s = got.status();
    if (s.ok() && *got == 0) {
      s = absl::DataLossError(absl::StrCat(file->path(), " ends before offset ", base_ + done));
    }
    if (!s.ok()) {
      absl::MutexLock lock(&mu_);
      free_.push_back(std::exchange(cur_, nullptr));
      return s;
    }
    done += *got;
  }
  file_ = file;
  file_size_ = file_size;
  source_ = std::move(source);
  borrowed_ = false;  // this buffer has the bytes read back: the stage's own
  absl::MutexLock lock(&mu_);
  status_ = absl::OkStatus();
  direct_ = direct_ok_ && file->SetDirectIo(true).ok();
  // Refused once (the file system, or a test double without a descriptor): the page
  // cache for every file after this one too.
  if (!direct_) direct_ok_ = false;
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::Status SegmentStage::WriteBlock(const char* data, uint64_t offset, uint64_t len) {
  const absl::string_view block(data, static_cast<size_t>(len));
  absl::Status s = file_->WriteAt(offset, block);
  bool direct;
  {
    absl::MutexLock lock(&mu_);
    direct = direct_;
    if (!s.ok() && direct) direct_ = direct_ok_ = false;
  }
  if (!s.ok() && direct) {
    // A file system may accept the O_DIRECT flag and still refuse the request (EINVAL
    // for an alignment it needs larger): the page cache from now on. A real write
    // error fails again below.
    RETURN_IF_ERROR(file_->SetDirectIo(false));
    s = file_->WriteAt(offset, block);
    direct = false;
  }
  RETURN_IF_ERROR(s);
  if (direct) {
    absl::MutexLock lock(&mu_);
    direct_bytes_ += len;
  }
  return absl::OkStatus();
}

void SegmentStage::Run() {
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](SegmentStage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stop_ || !s->jobs_.empty();
          },
          this));
      if (jobs_.empty()) return;  // stopping, and nothing is left to write
      job = jobs_.front();
      jobs_.pop_front();
      busy_ = true;
    }
    // After a failure the rest is not written: nothing past it can count as written.
    bool failed;
    {
      absl::MutexLock lock(&mu_);
      failed = !status_.ok();
    }
    absl::Status s = failed ? absl::OkStatus() : WriteBlock(job.data, job.offset, job.len);
    job.hold.reset();  // outside the lock: the last holder frees the memory
    absl::MutexLock lock(&mu_);
    if (status_.ok() && !s.ok()) status_ = std::move(s);
    if (s.ok() && job.own == nullptr) borrowed_bytes_ += job.len;
    if (job.own != nullptr) free_.push_back(job.own);
    busy_ = false;
  }
}

absl::Status SegmentStage::Drain() const {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](const SegmentStage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->jobs_.empty() && !s->busy_;
      },
      this));
  return status_;
}

namespace {
// All `n` bytes, and aligned for a direct write.
bool Covers(const SegmentStage::Borrowed& b, uint64_t n) {
  return b.bytes.size() == n &&
         reinterpret_cast<uintptr_t>(b.bytes.data()) % kDirectIoAlignment == 0;
}
}  // namespace

absl::StatusOr<SegmentStage::Borrowed> SegmentStage::Lend(uint64_t n) const {
  Borrowed b = source_ ? source_(base_, static_cast<size_t>(n)) : Borrowed{};
  if (!Covers(b, n)) {
    // The source promised them when the buffer began: a broken promise, never a reason
    // to write anything else.
    return absl::InternalError(absl::StrCat("the WAL staged for ", file_->path(), " at offset ",
                                            base_, " (", n, " bytes) is no longer in memory"));
  }
  return b;
}

absl::Status SegmentStage::Submit(uint64_t len) {
  if (borrowed_) {
    ASSIGN_OR_RETURN(Borrowed b, Lend(len));
    absl::MutexLock lock(&mu_);
    if (!status_.ok()) return status_;
    // As many in flight as with buffers of its own: what the thread has not written yet
    // holds the source's memory.
    mu_.Await(absl::Condition(
        +[](SegmentStage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
          return static_cast<int>(s->jobs_.size()) < s->buffers_;
        },
        this));
    jobs_.push_back(Job{b.bytes.data(), base_, len, nullptr, std::move(b.hold)});
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  if (!status_.ok()) return status_;
  jobs_.push_back(Job{cur_, base_, len, cur_, nullptr});
  mu_.Await(absl::Condition(
      +[](SegmentStage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return !s->free_.empty();
      },
      this));
  cur_ = free_.back();
  free_.pop_back();
  return absl::OkStatus();
}

absl::Status SegmentStage::WriteCurrent(uint64_t len) {
  // Zeros past the staged bytes up to the block end: not WAL, and what the file held
  // there before (zeros, or stale bytes past the write position) means nothing.
  std::memset(cur_ + staged_, 0, static_cast<size_t>(len - staged_));
  RETURN_IF_ERROR(WriteBlock(cur_, base_, len));
  written_ = staged_;
  return absl::OkStatus();
}

absl::Status SegmentStage::Append(absl::string_view bytes) {
  if (!active()) return absl::FailedPreconditionError("nothing is staged");
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(status_);  // nothing after a failed write can be written
  }
  if (bytes.size() > file_size_ - end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        bytes.size(), " bytes do not fit in ", file_->path(), " after offset ", end()));
  }
  while (!bytes.empty()) {
    // A buffer ends at the next multiple of its capacity (the capacity divides the file
    // size) or at the file's end: it then lies in one piece of a source that keeps
    // capacity-aligned pieces of that size.
    const uint64_t limit = std::min<uint64_t>(capacity_ - base_ % capacity_, file_size_ - base_);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(limit - staged_, bytes.size()));
    if (staged_ == 0 && source_) {
      // A buffer beginning empty: borrowed when the source has its first bytes already.
      borrowed_ = Covers(source_(base_, n), n);
    }
    if (!borrowed_) std::memcpy(cur_ + staged_, bytes.data(), n);
    staged_ += n;
    bytes.remove_prefix(n);
    if (staged_ == limit) {
      RETURN_IF_ERROR(Submit(limit));
      base_ += limit;
      staged_ = written_ = 0;
      borrowed_ = false;
    }
  }
  return absl::OkStatus();
}

absl::Status SegmentStage::WriteOut() {
  if (!active()) return absl::OkStatus();
  RETURN_IF_ERROR(Drain());
  if (written_ == staged_) return absl::OkStatus();
  if (borrowed_) return WriteBorrowed();
  RETURN_IF_ERROR(WriteCurrent(AlignUp(staged_)));
  // Keep the last, partial block: the next write-out rewrites it with what follows.
  const uint64_t keep_from = AlignDown(staged_);
  if (keep_from > 0) {
    std::memmove(cur_, cur_ + keep_from, static_cast<size_t>(staged_ - keep_from));
    base_ += keep_from;
    staged_ -= keep_from;
    written_ = staged_;
  }
  return absl::OkStatus();
}

absl::Status SegmentStage::WriteBorrowed() {
  ASSIGN_OR_RETURN(Borrowed b, Lend(staged_));
  const uint64_t whole = AlignDown(staged_);
  if (whole > 0) {
    RETURN_IF_ERROR(WriteBlock(b.bytes.data(), base_, whole));
    absl::MutexLock lock(&mu_);
    borrowed_bytes_ += whole;
  }
  if (staged_ > whole) {
    // The partial last block, zero-padded: bytes past the source's end are not ours to
    // write (and may be written by the time the device reads them).
    const size_t tail = static_cast<size_t>(staged_ - whole);
    std::memcpy(cur_, b.bytes.data() + whole, tail);
    std::memset(cur_ + tail, 0, kDirectIoAlignment - tail);
    RETURN_IF_ERROR(WriteBlock(cur_, base_ + whole, kDirectIoAlignment));
  }
  // The partial block stays: still borrowed, rewritten by the next write-out.
  base_ += whole;
  staged_ -= whole;
  written_ = staged_;
  return absl::OkStatus();
}

absl::Status SegmentStage::End() {
  if (!active()) return absl::OkStatus();
  RETURN_IF_ERROR(WriteOut());
  if (direct()) RETURN_IF_ERROR(file_->SetDirectIo(false));
  Drop();
  return absl::OkStatus();
}

void SegmentStage::Drop() {
  if (!active()) return;
  Drain().IgnoreError();  // the caller has the failure, or is discarding the file
  absl::MutexLock lock(&mu_);
  free_.push_back(std::exchange(cur_, nullptr));
  file_ = nullptr;
  source_ = nullptr;
  borrowed_ = false;
  direct_ = false;
  status_ = absl::OkStatus();
  base_ = staged_ = written_ = 0;
}

void SegmentStage::Overlay(uint64_t offset, char* out, size_t n) const {
  if (!active()) return;
  Drain().IgnoreError();  // a failed write leaves the file short: the compare says so
  const uint64_t from = std::max(offset, base_);
  const uint64_t to = std::min(offset + n, end());
  if (from >= to) return;
  const char* staged = cur_;
  absl::StatusOr<Borrowed> b;
  if (borrowed_) {
    b = Lend(staged_);
    if (!b.ok()) return;  // the file's bytes stay: the compare then reports them
    staged = b->bytes.data();
  }
  std::memcpy(out + (from - offset), staged + (from - base_), static_cast<size_t>(to - from));
}

}  // namespace walrep
