#include "aiondb/base_backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "replay/errno_status.h"
#include "wire/connection.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {
namespace {

// aiondb's fetch has no read timeout at all; a primary silent this long is gone.
constexpr absl::Duration kSilenceLimit = absl::Seconds(60);

}  // namespace

absl::StatusOr<std::unique_ptr<BackupWriter>> BackupWriter::Open(const std::string& target) {
  bool created = false;
  ASSIGN_OR_RETURN(UniqueFd root, OpenOrCreateDir(target, &created));
  return std::unique_ptr<BackupWriter>(new BackupWriter(target, std::move(root)));
}

absl::Status BackupWriter::Apply(const BackupFrame& frame) {
  if (ended_) return absl::DataLossError("aiondb backup frame after BackupEnd");
  if (const BackupHeader* h = std::get_if<BackupHeader>(&frame)) {
    if (header_) return absl::DataLossError("second aiondb backup Header");
    header_ = *h;
    return absl::OkStatus();
  }
  if (const FileStart* f = std::get_if<FileStart>(&frame)) {
    if (!header_) return absl::DataLossError("aiondb backup FileStart before the Header");
    if (file_.valid()) return absl::DataLossError("aiondb backup FileStart while a file is open");
    ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitMemberPath(f->path));
    const std::string canonical = JoinPath(parts);
    if (!seen_.insert(canonical).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("aiondb backup sends \"", canonical, "\" twice"));
    }
    const std::string display = absl::StrCat(target_, "/", canonical);
    std::vector<std::string> dirs(parts.begin(), parts.end() - 1);
    ASSIGN_OR_RETURN(UniqueFd parent, WalkDirs(root_.get(), dirs, /*create=*/true, display));
    for (size_t i = 1; i <= dirs.size(); ++i) dirs_.insert({dirs.begin(), dirs.begin() + i});
    int fd = openat(parent.get(), parts.back().c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus("create", display, errno);
    file_ = UniqueFd(fd);
    file_path_ = display;
    file_size_ = f->size;
    file_written_ = 0;
    return absl::OkStatus();
  }
  if (const FileData* d = std::get_if<FileData>(&frame)) {
    if (!file_.valid()) return absl::DataLossError("aiondb backup FileData with no file open");
    if (d->data.size() > file_size_ - file_written_) {
      return absl::DataLossError(absl::StrCat(file_path_, ": more data than its declared ",
                                              file_size_, " bytes"));
    }
    RETURN_IF_ERROR(WriteAllFd(file_.get(), d->data, file_path_));
    file_written_ += d->data.size();
    bytes_written_ += d->data.size();
    return absl::OkStatus();
  }
  if (std::holds_alternative<FileEnd>(frame)) {
    if (!file_.valid()) return absl::DataLossError("aiondb backup FileEnd with no file open");
    if (file_written_ != file_size_) {
      return absl::DataLossError(absl::StrCat(file_path_, ": ", file_written_,
                                              " bytes received of the declared ", file_size_));
    }
    RETURN_IF_ERROR(FsyncFd(file_.get(), file_path_));
    RETURN_IF_ERROR(file_.Close(file_path_));
    ++files_done_;
    return absl::OkStatus();
  }
  // BackupEnd.
  if (file_.valid()) return absl::DataLossError("aiondb BackupEnd while a file is open");
  ended_ = true;
  return absl::OkStatus();
}

absl::Status BackupWriter::Finish() {
  if (!ended_) return absl::DataLossError("the aiondb backup stream ended before BackupEnd");
  if (!header_) return absl::DataLossError("the aiondb backup stream had no Header");
  for (const std::vector<std::string>& d : dirs_) {
    const std::string display = absl::StrCat(target_, "/", JoinPath(d));
    ASSIGN_OR_RETURN(UniqueFd fd, WalkDirs(root_.get(), d, /*create=*/false, display));
    RETURN_IF_ERROR(FsyncFd(fd.get(), display));
  }
  return FsyncFd(root_.get(), target_);
}

absl::StatusOr<FetchResult> FetchBaseBackup(
    const ConnInfo& conninfo, const std::string& target, const std::function<bool()>& stopped,
    const std::function<void(const FetchProgress&)>& progress) {
  ConnectionOptions copts;
  copts.default_application_name = "walrep";
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(conninfo, copts));
  ASSIGN_OR_RETURN(std::unique_ptr<BackupWriter> writer, BackupWriter::Open(target));
  char kind = 0;
  ASSIGN_OR_RETURN(auto pre, conn->StartCopy("BASE_BACKUP", &kind));
  (void)pre;
  if (kind != 'H') return absl::DataLossError("BASE_BACKUP did not enter COPY OUT mode");
  std::string buf;
  size_t start = 0;  // consumed prefix of buf
  uint64_t files_reported = 0;
  absl::Time last = absl::Now();
  bool done = false;
  while (!done) {
    if (stopped && stopped()) {
      conn->Close();
      return absl::CancelledError("base backup stopped");
    }
    ASSIGN_OR_RETURN(std::optional<BackendMessage> msg,
                     conn->ReadMessage(absl::Now() + absl::Milliseconds(200)));
    if (!msg) {
      if (absl::Now() - last > kSilenceLimit) {
        return absl::UnavailableError("the aiondb primary went silent during BASE_BACKUP");
      }
      continue;
    }
    last = absl::Now();
    switch (msg->type) {
      case 'd': {
        buf.erase(0, start);
        start = 0;
        buf += msg->body;
        for (;;) {
          ASSIGN_OR_RETURN(std::optional<DecodedFrame> f,
                           DecodeBackupFrame(absl::string_view(buf).substr(start)));
          if (!f) break;
          RETURN_IF_ERROR(writer->Apply(f->frame));
          start += f->consumed;
          if (progress && writer->files_done() != files_reported) {
            files_reported = writer->files_done();
            progress({writer->files_done(), writer->bytes_written(), ""});
          }
        }
        break;
      }
      case 'c':
      case 'Z':
        done = true;
        break;
      case 'C':
        break;
      default:
        return absl::DataLossError(absl::StrCat("unexpected message '", std::string(1, msg->type),
                                                "' during the aiondb BASE_BACKUP"));
    }
  }
  if (start != buf.size()) {
    return absl::DataLossError("the aiondb backup stream ended inside a frame");
  }
  RETURN_IF_ERROR(writer->Finish());
  // The rest of the exchange (CommandComplete, ReadyForQuery) is not needed.
  conn->Close();
  FetchResult r;
  r.header = *writer->header();
  r.files = writer->files_done();
  r.bytes = writer->bytes_written();
  return r;
}

}  // namespace walrep::aiondb
