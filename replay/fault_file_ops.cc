#include "replay/fault_file_ops.h"

#include <algorithm>
#include <utility>

namespace walrep {
namespace {

using Op = FaultInjectingFileOps::Op;

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectingFileOps* ops, std::unique_ptr<File> base)
      : ops_(ops), base_(std::move(base)) {}

  absl::Status WriteAt(uint64_t offset, absl::string_view data) override {
    absl::Status s = ops_->MaybeFail(Op::kWrite, "write", path());
    if (!s.ok()) return s;
    ops_->MaybeHoldWrite();
    s = base_->WriteAt(offset, data);
    if (s.ok() && !data.empty()) {
      const uint64_t end = offset + data.size();
      const bool clean = dirty_begin_ == dirty_end_;
      dirty_begin_ = clean ? offset : std::min(dirty_begin_, offset);
      dirty_end_ = clean ? end : std::max(dirty_end_, end);
    }
    return s;
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t n, char* buf) override {
    if (direct_) {
      absl::Status s = ops_->MaybeFail(Op::kDirectRead, "read", path());
      if (!s.ok()) return s;
    }
    return base_->ReadAt(offset, n, buf);
  }
  absl::StatusOr<uint64_t> Size() override { return base_->Size(); }
  // Fails as a write would.
  absl::Status Truncate(uint64_t size) override {
    absl::Status s = ops_->MaybeFail(Op::kWrite, "truncate", path());
    if (!s.ok()) return s;
    return base_->Truncate(size);
  }
  absl::Status Sync() override {
    absl::Status s = ops_->MaybeFail(Op::kSync, "fsync", path());
    if (!s.ok()) return s;
    const FaultInjectingFileOps::SyncCall call{path(), dirty_begin_, dirty_end_};
    ops_->MaybeHoldSync(call);
    s = base_->Sync();
    if (!s.ok()) return s;
    dirty_begin_ = dirty_end_ = 0;
    ops_->SyncReturned(call);
    return s;
  }
  absl::Status Close() override {
    absl::Status closed = base_->Close();
    absl::Status s = ops_->MaybeFail(Op::kClose, "close", path());
    return s.ok() ? closed : s;
  }
  const std::string& path() const override { return base_->path(); }
  absl::Status SetDirectIo(bool on) override {
    absl::Status s = base_->SetDirectIo(on);
    if (s.ok()) direct_ = on;
    return s;
  }

 private:
  FaultInjectingFileOps* ops_;
  std::unique_ptr<File> base_;
  bool direct_ = false;  // in O_DIRECT mode
  // Written through this File since its last successful Sync.
  uint64_t dirty_begin_ = 0;
  uint64_t dirty_end_ = 0;
};

}  // namespace

void FaultInjectingFileOps::FailAfter(Op op, int skip, int err) {
  absl::MutexLock lock(&mu_);
  rules_[static_cast<size_t>(op)] = Rule{true, skip, err};
}

void FaultInjectingFileOps::Clear() {
  absl::MutexLock lock(&mu_);
  rules_ = {};
}

int FaultInjectingFileOps::calls(Op op) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<size_t>(op)];
}

void FaultInjectingFileOps::HoldNextSync() {
  absl::MutexLock lock(&mu_);
  if (hold_ != Hold::kHeld) hold_ = Hold::kArmed;
}

std::optional<FaultInjectingFileOps::SyncCall> FaultInjectingFileOps::WaitUntilSyncHeld(
    absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto held = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hold_ == Hold::kHeld; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&held), timeout)) return std::nullopt;
  return held_;
}

void FaultInjectingFileOps::ReleaseSync() {
  absl::MutexLock lock(&mu_);
  if (hold_ == Hold::kHeld) {
    hold_ = Hold::kReleased;
  } else if (hold_ == Hold::kArmed) {
    hold_ = Hold::kNone;
  }
}

void FaultInjectingFileOps::OnSyncReturned(std::function<void(const SyncCall&)> observer) {
  absl::MutexLock lock(&mu_);
  observer_ = std::move(observer);
}

void FaultInjectingFileOps::MaybeHoldSync(const SyncCall& call) {
  absl::MutexLock lock(&mu_);
  if (hold_ != Hold::kArmed) return;
  hold_ = Hold::kHeld;
  held_ = call;
  auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hold_ != Hold::kHeld; };
  mu_.Await(absl::Condition(&released));
  held_.reset();
  if (hold_ == Hold::kReleased) hold_ = Hold::kNone;
}

void FaultInjectingFileOps::HoldNextWrite() {
  absl::MutexLock lock(&mu_);
  if (write_hold_ != Hold::kHeld) write_hold_ = Hold::kArmed;
}

bool FaultInjectingFileOps::WaitUntilWriteHeld(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto held = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return write_hold_ == Hold::kHeld; };
  return mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
}

void FaultInjectingFileOps::ReleaseWrite() {
  absl::MutexLock lock(&mu_);
  if (write_hold_ == Hold::kHeld) {
    write_hold_ = Hold::kReleased;
  } else if (write_hold_ == Hold::kArmed) {
    write_hold_ = Hold::kNone;
  }
}

void FaultInjectingFileOps::MaybeHoldWrite() {
  absl::MutexLock lock(&mu_);
  if (write_hold_ != Hold::kArmed) return;
  write_hold_ = Hold::kHeld;
  auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return write_hold_ != Hold::kHeld;
  };
  mu_.Await(absl::Condition(&released));
  if (write_hold_ == Hold::kReleased) write_hold_ = Hold::kNone;
}

void FaultInjectingFileOps::SyncReturned(const SyncCall& call) {
  std::function<void(const SyncCall&)> observer;
  {
    absl::MutexLock lock(&mu_);
    observer = observer_;
  }
  if (observer) observer(call);
}

absl::Status FaultInjectingFileOps::MaybeFail(Op op, absl::string_view what,
                                              const std::string& path) {
  absl::MutexLock lock(&mu_);
  size_t i = static_cast<size_t>(op);
  ++calls_[i];
  Rule& r = rules_[i];
  if (!r.armed) return absl::OkStatus();
  if (r.skip > 0) {
    --r.skip;
    return absl::OkStatus();
  }
  return ErrnoStatus(what, path, r.err);
}

absl::StatusOr<std::unique_ptr<File>> FaultInjectingFileOps::Open(const std::string& path,
                                                                  OpenMode mode) {
  absl::Status s = MaybeFail(Op::kOpen, "open", path);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<File>> f = base_->Open(path, mode);
  if (!f.ok()) return f.status();
  return std::unique_ptr<File>(new FaultFile(this, std::move(*f)));
}

absl::Status FaultInjectingFileOps::Rename(const std::string& from, const std::string& to) {
  absl::Status s = MaybeFail(Op::kRename, "rename", from);
  if (!s.ok()) return s;
  return base_->Rename(from, to);
}

absl::Status FaultInjectingFileOps::SyncDir(const std::string& dir) {
  absl::Status s = MaybeFail(Op::kSyncDir, "fsync directory", dir);
  if (!s.ok()) return s;
  return base_->SyncDir(dir);
}

}  // namespace walrep
