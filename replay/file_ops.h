// FileOps: the narrow file-system seam under everything in replay/ that touches disk.
// Production code uses DefaultFileOps() (plain POSIX calls); tests substitute a wrapper
// that injects failures (ENOSPC, EIO on fsync, ...) so the writers' failure paths can be
// exercised deterministically. DefaultFileOps() is thread-safe; a File is
// thread-compatible (one owner at a time).
#ifndef WALREP_REPLAY_FILE_OPS_H_
#define WALREP_REPLAY_FILE_OPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/errno_status.h"

namespace walrep {

// Every error an implementation returns for a failed system call is ErrnoStatus(...)
// (errno_status.h): one table of codes for the whole project.

// An open file. Destroying it closes the descriptor without syncing.
class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset` (retrying short writes).
  virtual absl::Status WriteAt(uint64_t offset, absl::string_view data) = 0;
  // Reads up to `n` bytes at `offset` into `buf`; returns the count (0 at end of file).
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t n, char* buf) = 0;
  virtual absl::StatusOr<uint64_t> Size() = 0;
  virtual absl::Status Sync() = 0;  // fdatasync: data and the metadata to read it back
  // Cuts (or extends with zeros) the file to `size` bytes (ftruncate). Like a write, the
  // new size is durable only at the next Sync().
  virtual absl::Status Truncate(uint64_t size) = 0;
  // Closes the descriptor; a close error is reported (it can be a delayed write error).
  virtual absl::Status Close() = 0;
  virtual const std::string& path() const = 0;
  // Turns O_DIRECT on or off for later reads and writes (fcntl). While on, every
  // ReadAt/WriteAt must use an offset, a length and a buffer address that are multiples
  // of kDirectIoAlignment (AlignedBuffer). Unimplemented where there is no descriptor
  // (test doubles) and InvalidArgument where the file system refuses direct I/O: callers
  // then keep going through the page cache, which accepts the same aligned requests.
  virtual absl::Status SetDirectIo(bool on) {
    (void)on;
    return absl::UnimplementedError("direct I/O is not available for this file");
  }
};

// The alignment of offsets, lengths and buffers for O_DIRECT: 4 KiB covers the logical
// block size of every device in use (512 or 4096 bytes) and the page size.
inline constexpr size_t kDirectIoAlignment = 4096;

// A heap buffer of `size` bytes (rounded up to kDirectIoAlignment) aligned to
// kDirectIoAlignment, not initialised (untouched pages cost no memory until written).
// Empty (data() == nullptr) when memory ran out.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size) : AlignedBuffer(size, kDirectIoAlignment) {}
  // Aligned to `alignment` (a power of two, at least kDirectIoAlignment); a buffer of whole
  // 2 MiB huge pages aligned to them is offered to the kernel for transparent huge pages.
  AlignedBuffer(size_t size, size_t alignment);
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

// Rounds down / up to a multiple of kDirectIoAlignment.
inline constexpr uint64_t AlignDown(uint64_t v) { return v & ~uint64_t{kDirectIoAlignment - 1}; }
inline constexpr uint64_t AlignUp(uint64_t v) { return AlignDown(v + kDirectIoAlignment - 1); }

class FileOps {
 public:
  enum class OpenMode {
    kRead,            // existing file, read-only
    kReadWrite,       // existing file, read-write
    kCreateTruncate,  // create (0600) or truncate, read-write
    // create (0600), read-write; AlreadyExists when anything, a symlink included, is
    // at the name already (O_EXCL)
    kCreateExclusive,
  };

  virtual ~FileOps() = default;
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path,
                                                     OpenMode mode) = 0;
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // fsync of a directory, so that creations and renames in it are durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // mkdir (0700); OK when the directory already exists. The new entry is not durable
  // until its parent is synced: data-directory code uses CreateDirDurably().
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Names of the entries of `dir` (without "." and ".."), unsorted.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // NotFound when the path does not exist.
  virtual absl::StatusOr<uint64_t> FileSize(const std::string& path) = 0;
};

// The process-wide POSIX implementation. Never null; never destroyed.
FileOps* DefaultFileOps();

// Joins a directory and a file name with exactly one '/'.
std::string JoinPath(absl::string_view dir, absl::string_view name);

// The directory part of `path` ("." when it has none; trailing slashes are not part of
// the last component: "a/b/" -> "a").
std::string DirName(absl::string_view path);

// CreateDir, and when it made the directory, SyncDir of the parent, so the new entry
// survives a crash together with whatever is later fsynced inside it (PostgreSQL's
// fsync_parent_path). A directory that exists already is left as it is: its parent may
// be one the agent can search but not open (a 0711 home directory).
absl::Status CreateDirDurably(const std::string& dir, FileOps* ops = DefaultFileOps());

}  // namespace walrep

#endif  // WALREP_REPLAY_FILE_OPS_H_
