#include "replay/file_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status WriteAt(uint64_t offset, absl::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      // pwrite returning 0 for a non-empty buffer means the device took nothing; the
      // only documented cause is a full file system.
      if (n == 0) return ErrnoStatus("write", path_, ENOSPC);
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t n, char* buf) override {
    for (;;) {
      ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return ErrnoStatus("read", path_, errno);
    }
  }

  absl::StatusOr<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status Sync() override {
    // fdatasync: data plus the metadata needed to read it back (size, blocks), as
    // PostgreSQL's default wal_sync_method does; segments are pre-sized, so this skips
    // only the mtime update a full fsync would also force to disk.
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    for (;;) {
      if (::ftruncate(fd_, static_cast<off_t>(size)) == 0) return absl::OkStatus();
      if (errno != EINTR) return ErrnoStatus("truncate", path_, errno);
    }
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus("close", path_, errno);
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

  absl::Status SetDirectIo(bool on) override {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) return ErrnoStatus("fcntl", path_, errno);
    const int want = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
    if (want != flags && ::fcntl(fd_, F_SETFL, want) != 0) {
      return ErrnoStatus("fcntl O_DIRECT", path_, errno);
    }
    return absl::OkStatus();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileOps final : public FileOps {
 public:
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path,
                                             OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreateTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
      case OpenMode::kCreateExclusive: flags |= O_RDWR | O_CREAT | O_EXCL; break;
    }
    int fd;
    do {
      fd = ::open(path.c_str(), flags, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("rename", absl::StrCat(from, " -> ", to), errno);
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync directory", dir, err);
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0700) == 0) return absl::OkStatus();
    int err = errno;
    struct stat st;
    if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return absl::OkStatus();
    }
    return ErrnoStatus("mkdir", dir, err);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("open directory", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      absl::string_view name(e->d_name);
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus("read directory", dir, err);
    return names;
  }

  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
};

}  // namespace

AlignedBuffer::AlignedBuffer(size_t size, size_t alignment) {
  alignment = std::max(alignment, kDirectIoAlignment);
  const size_t alloc = (std::max<size_t>(size, 1) + alignment - 1) & ~(alignment - 1);
  data_ = static_cast<char*>(std::aligned_alloc(alignment, alloc));
  if (data_ == nullptr) return;
  size_ = alloc;
  // Huge pages: one page fault and one page to pin (O_DIRECT writes from it) per 2 MiB
  // instead of 512. Advice only: without transparent huge pages it changes nothing.
  constexpr size_t kHugePage = size_t{2} << 20;
  if (alignment % kHugePage == 0 && alloc % kHugePage == 0) {
    (void)madvise(data_, alloc, MADV_HUGEPAGE);
  }
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

FileOps* DefaultFileOps() {
  static FileOps* const ops = new PosixFileOps();
  return ops;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

std::string DirName(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

absl::Status CreateDirDurably(const std::string& dir, FileOps* ops) {
  // Any answer but NotFound means something is there; CreateDir checks what.
  const bool absent = absl::IsNotFound(ops->FileSize(dir).status());
  absl::Status s = ops->CreateDir(dir);
  if (!s.ok() || !absent) return s;
  return ops->SyncDir(DirName(dir));
}

}  // namespace walrep
