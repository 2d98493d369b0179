// CrashFileOps: an in-memory FileOps for power-loss tests. It keeps two states of a
// directory tree: the live one that every call sees, and the durable one that a power
// failure would leave behind, under the rules of a conservative POSIX file system:
//   - a file's bytes (and size) become durable only at its Sync() (fdatasync), as the
//     whole content at that moment: writes nobody synced are lost;
//   - a directory's entries (creations, renames, removals, mkdirs) become durable only
//     at SyncDir() of that directory, as the whole set of names at that moment, each
//     naming a file identity (an inode), so a rename is either wholly there or not, and
//     a file whose name never became durable is lost with its data even if synced;
//   - directories made by MakeDurableDir() exist durably from the start (they stand for
//     the test's own directory, which the code under test did not create).
// Every call counts as one operation, reads included. set_cut(n): the power fails as
// operation n begins; it and every later one fail with EIO and change nothing. With
// torn sectors set, at that moment the first k dirty 512-byte sectors (in file order)
// of one file also reach the disk — the file being synced when the cut op is its
// Sync(), otherwise the one written last — as a disk interrupted mid-writeback leaves a
// torn write. Materialize() writes the durable state into a real directory so that the
// code under test reads it back with DefaultFileOps().
//
// Not modelled: renaming or removing directories (refused), hard links, the durability
// of a file's size apart from its data. Thread-safe; Files it opens must not outlive it.
#ifndef WALREP_REPLAY_CRASH_FILE_OPS_H_
#define WALREP_REPLAY_CRASH_FILE_OPS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "replay/file_ops.h"

namespace walrep {

class CrashFileOps final : public FileOps {
 public:
  static constexpr uint64_t kSectorSize = 512;

  CrashFileOps() = default;
  CrashFileOps(const CrashFileOps&) = delete;
  CrashFileOps& operator=(const CrashFileOps&) = delete;

  // Creates `dir` and its missing ancestors, durable at once. Not counted.
  void MakeDurableDir(const std::string& dir);

  // The power fails as operation `op` (1-based; 0: never) begins, and `torn_sectors`
  // dirty sectors of the victim file persist then (0: none).
  void set_cut(uint64_t op, uint64_t torn_sectors = 0);

  // The machine comes back after the power failure: the live state becomes the durable
  // one (unsynced writes and names gone), power is on, no cut is armed. Files opened
  // before must not be used again. Counting goes on.
  void Reboot();

  // Operations begun so far (including failed ones).
  uint64_t ops() const;
  bool powered_off() const;
  // "fdatasync /x/y" for operation `n` (1-based), "" when there was none.
  std::string OpName(uint64_t n) const;

  // Writes the durable tree under `real_dir` (which must exist): durable path "/a/b" or
  // "a/b" becomes "<real_dir>/a/b". Not counted.
  absl::Status Materialize(const std::string& real_dir) const;
  // The durable content of the file at `path`, NotFound when no durable name reaches it.
  absl::StatusOr<std::string> DurableContent(const std::string& path) const;

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override;

 private:
  friend class CrashFile;

  // A file's two states; shared by every name and open File that refers to it.
  struct Inode {
    std::string data;         // live
    std::string durable;      // as of the last Sync()
    std::vector<bool> dirty;  // per sector: written since the last Sync()
  };

  struct Entry {
    std::shared_ptr<Inode> file;  // null for a directory
    bool is_dir() const { return file == nullptr; }
  };
  struct Dir {
    std::map<std::string, Entry> live;
    std::map<std::string, Entry> durable;
    bool root = false;  // durable whatever its parent says (MakeDurableDir)
  };

  // Counts an operation and fails it after the cut. `victim` is the file a cut at this
  // operation tears (its Sync), null for the last one written.
  absl::Status Begin(const char* what, const std::string& path, Inode* victim = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TearAtCut(Inode* victim) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live entry at `path`, or an ENOENT status naming `what`.
  absl::StatusOr<Entry*> Lookup(const char* what, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DurablyExists(const std::string& dir) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The operations of an open CrashFile on its inode; `bad` is the errno for a File
  // that cannot do it (closed, or read-only for a write), 0 when it can.
  absl::Status FileWrite(const std::string& path, const std::shared_ptr<Inode>& inode, int bad,
                         uint64_t offset, absl::string_view data);
  absl::Status FileTruncate(const std::string& path, const std::shared_ptr<Inode>& inode,
                            int bad, uint64_t size);
  absl::StatusOr<size_t> FileRead(const std::string& path, const Inode& inode, int bad,
                                  uint64_t offset, size_t n, char* buf);
  absl::StatusOr<uint64_t> FileStat(const std::string& path, const Inode& inode, int bad);
  absl::Status FileSync(const std::string& path, Inode* inode, int bad);
  absl::Status FileClose(const std::string& path, int bad);

  mutable absl::Mutex mu_;
  std::map<std::string, Dir> dirs_ ABSL_GUARDED_BY(mu_);  // by normalized path
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);     // log_[i]: operation i + 1
  uint64_t cut_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t torn_sectors_ ABSL_GUARDED_BY(mu_) = 0;
  bool off_ ABSL_GUARDED_BY(mu_) = false;
  std::weak_ptr<Inode> last_written_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_REPLAY_CRASH_FILE_OPS_H_
