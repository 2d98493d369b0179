#include "backup/tar_file_sink.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backup/tar_writer.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr size_t kWriteBuffer = 256 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<ArchiveFile>> ArchiveFile::Create(int dir_fd,
                                                                 const std::string& name,
                                                                 const std::string& display,
                                                                 Compression compression,
                                                                 std::optional<int> level) {
  int fd = openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
  if (fd < 0) return ErrnoStatus("create", display, errno);
  std::unique_ptr<ArchiveFile> f(new ArchiveFile(UniqueFd(fd), display));
  if (compression != Compression::kNone) {
    ASSIGN_OR_RETURN(f->compressor_, NewCompressor(compression, level));
  }
  f->buffer_.reserve(kWriteBuffer);
  return f;
}

absl::Status ArchiveFile::Write(absl::string_view bytes) {
  if (compressor_ == nullptr) return WriteRaw(bytes);
  return compressor_->Feed(bytes, [this](absl::string_view z) { return WriteRaw(z); });
}

absl::Status ArchiveFile::WriteRaw(absl::string_view bytes) {
  if (buffer_.size() + bytes.size() > kWriteBuffer) RETURN_IF_ERROR(Flush());
  if (bytes.size() >= kWriteBuffer) {
    RETURN_IF_ERROR(WriteAllFd(fd_.get(), bytes, display_));
    on_disk_ += bytes.size();
    return absl::OkStatus();
  }
  buffer_.append(bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status ArchiveFile::Flush() {
  RETURN_IF_ERROR(WriteAllFd(fd_.get(), buffer_, display_));
  on_disk_ += buffer_.size();
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status ArchiveFile::Close() {
  if (compressor_ != nullptr) {
    RETURN_IF_ERROR(compressor_->Finish([this](absl::string_view z) { return WriteRaw(z); }));
  }
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(FsyncFd(fd_.get(), display_));
  return fd_.Close(display_);
}

// Reads the archive as tar only to hand each regular file's bytes to the observer, named
// as backup_manifest names them. Member paths are checked as extraction checks them, so a
// tar file kept here is one that extracts safely.
class TarFileSink::Checker final : public TarSink {
 public:
  Checker(std::string prefix, std::string display, FileObserver* observer)
      : prefix_(std::move(prefix)), display_(std::move(display)), observer_(observer) {}

  absl::Status OnMember(const TarMember& member) override {
    // Directories carry no bytes to check ("./" names the root and is no member path).
    if (member.type == TarMember::Type::kDirectory) return absl::OkStatus();
    auto parts = SplitMemberPath(member.name);
    if (!parts.ok()) {
      return absl::Status(parts.status().code(),
                          absl::StrCat(parts.status().message(), " in ", display_));
    }
    if (member.type == TarMember::Type::kSymlink &&
        (!prefix_.empty() || parts->size() != 2 || (*parts)[0] != "pg_tblspc")) {
      return absl::InvalidArgumentError(absl::StrCat("symlink member \"", member.name, "\" in ",
                                                     display_,
                                                     " refused: only pg_tblspc/<oid> may be one"));
    }
    observing_ = member.type == TarMember::Type::kRegular && observer_ != nullptr;
    if (member.type == TarMember::Type::kRegular) ++files_;
    if (!observing_) return absl::OkStatus();
    return observer_->OnFileBegin(absl::StrCat(prefix_, JoinPath(*parts)));
  }
  absl::Status OnData(absl::string_view bytes) override {
    return observing_ ? observer_->OnFileData(bytes) : absl::OkStatus();
  }
  absl::Status OnMemberEnd() override {
    if (!observing_) return absl::OkStatus();
    observing_ = false;
    return observer_->OnFileEnd();
  }
  uint64_t files() const { return files_; }

 private:
  std::string prefix_;
  std::string display_;
  FileObserver* observer_;
  bool observing_ = false;
  uint64_t files_ = 0;
};

TarFileSink::TarFileSink(TarFileSinkOptions options) : options_(std::move(options)) {}
TarFileSink::~TarFileSink() = default;

uint64_t TarFileSink::files_seen() const {
  return files_done_ + (checker_ != nullptr ? checker_->files() : 0);
}

absl::Status TarFileSink::BeginArchive(absl::string_view archive_name,
                                       absl::string_view tablespace_oid,
                                       absl::string_view server_location) {
  if (file_ != nullptr) return absl::FailedPreconditionError("archive started inside another");
  // The name came from the primary: a plain file name, checked like a member path.
  auto parts = SplitMemberPath(archive_name);
  if (!parts.ok() || parts->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive name \"", archive_name, "\" is not a plain file name"));
  }
  file_name_ = absl::StrCat(archive_name, CompressionSuffix(options_.client_compression));
  std::string display = absl::StrCat(options_.target_dir, "/", file_name_);
  ASSIGN_OR_RETURN(file_, ArchiveFile::Create(options_.target_fd, file_name_, display,
                                              options_.client_compression,
                                              options_.client_level));
  if (tablespace_oid.empty() && !options_.recovery_lines.empty()) {
    if (options_.server_compression != Compression::kNone) {
      return absl::InvalidArgumentError(
          "a standby configuration cannot be added to a server-compressed tar archive");
    }
    injector_ = std::make_unique<TarRecoveryInjector>(
        options_.recovery_lines, options_.mtime,
        [this](absl::string_view b) { return file_->Write(b); });
  }
  ASSIGN_OR_RETURN(decompressor_, NewDecompressor(options_.server_compression));
  tar_ = std::make_unique<TarReader>();
  std::string prefix =
      tablespace_oid.empty() ? "" : absl::StrCat("pg_tblspc/", tablespace_oid, "/");
  checker_ = std::make_unique<Checker>(prefix, display, options_.observer);
  return absl::OkStatus();
}

absl::Status TarFileSink::ArchiveData(absl::string_view bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError("archive data outside an archive");
  RETURN_IF_ERROR(decompressor_->Feed(
      bytes, [this](absl::string_view plain) { return tar_->Feed(plain, checker_.get()); }));
  return injector_ != nullptr ? injector_->Feed(bytes) : file_->Write(bytes);
}

absl::Status TarFileSink::EndArchive() {
  if (file_ == nullptr) return absl::FailedPreconditionError("archive end outside an archive");
  RETURN_IF_ERROR(decompressor_->Finish());
  RETURN_IF_ERROR(tar_->Finish());
  if (injector_ != nullptr) {
    RETURN_IF_ERROR(injector_->Finish());
  } else if (!tar_->saw_end_marker()) {
    // 12-14 send each archive without the end-of-archive blocks (server compression,
    // which would hide them, needs 15+).
    RETURN_IF_ERROR(file_->Write(TarEndOfArchive()));
  }
  RETURN_IF_ERROR(file_->Close());
  bytes_on_disk_ += file_->bytes_on_disk();
  files_done_ += checker_->files();
  archives_.push_back(file_name_);
  file_.reset();
  injector_.reset();
  decompressor_.reset();
  tar_.reset();
  checker_.reset();
  return absl::OkStatus();
}

absl::StatusOr<std::string> PackWalTar(const std::string& wal_dir, int target_fd,
                                       const std::string& target_dir, Compression compression,
                                       std::optional<int> level) {
  DIR* d = opendir(wal_dir.c_str());
  if (d == nullptr) return ErrnoStatus("open", wal_dir, errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (fstatat(dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      names.push_back(n);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());

  std::string name = absl::StrCat("pg_wal.tar", CompressionSuffix(compression));
  std::string display = absl::StrCat(target_dir, "/", name);
  ASSIGN_OR_RETURN(auto out, ArchiveFile::Create(target_fd, name, display, compression, level));
  std::string buf(kWriteBuffer, '\0');
  for (const std::string& n : names) {
    std::string path = absl::StrCat(wal_dir, "/", n);
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    UniqueFd in(fd);
    struct stat st;
    if (fstat(in.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
    TarFileFields f;
    f.name = n;
    f.size = static_cast<uint64_t>(st.st_size);
    f.mode = 0600;
    f.uid = st.st_uid;
    f.gid = st.st_gid;
    f.mtime = st.st_mtime;
    ASSIGN_OR_RETURN(std::string header, TarFileHeader(f));
    RETURN_IF_ERROR(out->Write(header));
    uint64_t left = f.size;
    while (left > 0) {
      ssize_t r = read(in.get(), buf.data(), std::min<uint64_t>(left, buf.size()));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read", path, errno);
      }
      if (r == 0) return absl::DataLossError(absl::StrCat(path, " shrank while it was packed"));
      RETURN_IF_ERROR(out->Write(absl::string_view(buf.data(), static_cast<size_t>(r))));
      left -= static_cast<uint64_t>(r);
    }
    RETURN_IF_ERROR(out->Write(TarPadding(f.size)));
  }
  RETURN_IF_ERROR(out->Write(TarEndOfArchive()));
  RETURN_IF_ERROR(out->Close());

  // The streamed copy is redundant now that pg_wal.tar is durable.
  int wfd = open(wal_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (wfd < 0) return ErrnoStatus("open", wal_dir, errno);
  {
    UniqueFd w(wfd);
    RETURN_IF_ERROR(RemoveDirContents(w.get(), "", wal_dir));
  }
  if (rmdir(wal_dir.c_str()) != 0) return ErrnoStatus("remove", wal_dir, errno);
  RETURN_IF_ERROR(FsyncFd(target_fd, target_dir));
  return name;
}

}  // namespace walrep
