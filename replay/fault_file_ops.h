// FaultInjectingFileOps: a FileOps decorator for tests that makes chosen operations fail
// with a chosen errno (ENOSPC on write, EIO on fsync, ...) after a number of successful
// calls, and counts calls. Thread-safe. Files it opens must not outlive it.
#ifndef WALREP_REPLAY_FAULT_FILE_OPS_H_
#define WALREP_REPLAY_FAULT_FILE_OPS_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "replay/file_ops.h"

namespace walrep {

class FaultInjectingFileOps final : public FileOps {
 public:
  enum class Op { kOpen, kWrite, kSync, kClose, kRename, kSyncDir, kCount };

  explicit FaultInjectingFileOps(FileOps* base = DefaultFileOps()) : base_(base) {}

  // After `skip` more successful calls of `op`, every later call fails with `err`
  // (until Clear()).
  void FailAfter(Op op, int skip, int err);
  void Clear();
  int calls(Op op) const;

  // Counts the call and returns the injected failure for it, if any.
  absl::Status MaybeFail(Op op, absl::string_view what, const std::string& path);

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path,
                                             OpenMode mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override { return base_->Remove(path); }
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    return base_->FileSize(path);
  }

 private:
  struct Rule {
    bool armed = false;
    int skip = 0;
    int err = 0;
  };
  static constexpr size_t kOps = static_cast<size_t>(Op::kCount);

  FileOps* const base_;
  mutable absl::Mutex mu_;
  std::array<Rule, kOps> rules_ ABSL_GUARDED_BY(mu_);
  std::array<int, kOps> calls_ ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace walrep

#endif  // WALREP_REPLAY_FAULT_FILE_OPS_H_
