// FaultInjectingFileOps: a FileOps decorator for tests that makes chosen operations fail
// with a chosen errno (ENOSPC on write, EIO on fsync, ...) after a number of successful
// calls, counts calls, and can hold a File::Sync() open — the caller blocked as if inside
// a slow fdatasync — so a test can observe what a writer's users do (or must not do)
// before the sync returns. Thread-safe. Files it opens must not outlive it.
#ifndef WALREP_REPLAY_FAULT_FILE_OPS_H_
#define WALREP_REPLAY_FAULT_FILE_OPS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay/file_ops.h"

namespace walrep {

class FaultInjectingFileOps final : public FileOps {
 public:
  // kDirectRead: a read of a file in O_DIRECT mode (a file system that takes the flag and
  // refuses the request fails these with EINVAL).
  enum class Op { kOpen, kWrite, kSync, kClose, kRename, kSyncDir, kDirectRead, kCount };

  // What one File::Sync() makes durable: the bytes written through that File since its
  // previous successful Sync (file offsets [begin, end); begin == end when none were).
  // An fdatasync covers every dirty page of the file, so bytes written through another
  // descriptor of the same file are covered too; this range is what this one wrote.
  struct SyncCall {
    std::string path;
    uint64_t begin = 0;
    uint64_t end = 0;
  };

  explicit FaultInjectingFileOps(FileOps* base = DefaultFileOps()) : base_(base) {}

  // After `skip` more successful calls of `op`, every later call fails with `err`
  // (until Clear()).
  void FailAfter(Op op, int skip, int err);
  void Clear();
  int calls(Op op) const;

  // Holding a sync: the next File::Sync() (any file) blocks, before the real fdatasync,
  // until ReleaseSync(). One hold at a time. An injected Sync failure takes precedence
  // (the failing call is not held).
  void HoldNextSync();
  // Blocks until a Sync is held and returns what it covers, or nullopt after `timeout`.
  std::optional<SyncCall> WaitUntilSyncHeld(absl::Duration timeout);
  // Lets the held Sync proceed (or cancels a hold no Sync has reached yet).
  void ReleaseSync();
  // The same for writes: the next File::WriteAt() (any file) blocks, before the real
  // write, until ReleaseWrite() — a write of a thread of the caller's own still in flight.
  void HoldNextWrite();
  // Blocks until a write is held; false after `timeout`.
  bool WaitUntilWriteHeld(absl::Duration timeout);
  void ReleaseWrite();
  // Called after every successful Sync, on the syncing thread, with no lock held,
  // before the Sync returns to its caller: when it runs, the bytes are durable and the
  // caller cannot yet know it. Must not call back into this object's hold methods.
  void OnSyncReturned(std::function<void(const SyncCall&)> observer);

  // Counts the call and returns the injected failure for it, if any.
  absl::Status MaybeFail(Op op, absl::string_view what, const std::string& path);
  // Used by the files it opens: blocks while `call` is held; then reports a return.
  void MaybeHoldSync(const SyncCall& call);
  void MaybeHoldWrite();
  void SyncReturned(const SyncCall& call);

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
  enum class Hold { kNone, kArmed, kHeld, kReleased };
  static constexpr size_t kOps = static_cast<size_t>(Op::kCount);

  FileOps* const base_;
  mutable absl::Mutex mu_;
  std::array<Rule, kOps> rules_ ABSL_GUARDED_BY(mu_);
  std::array<int, kOps> calls_ ABSL_GUARDED_BY(mu_) = {};
  Hold hold_ ABSL_GUARDED_BY(mu_) = Hold::kNone;
  std::optional<SyncCall> held_ ABSL_GUARDED_BY(mu_);
  Hold write_hold_ ABSL_GUARDED_BY(mu_) = Hold::kNone;
  std::function<void(const SyncCall&)> observer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_REPLAY_FAULT_FILE_OPS_H_
