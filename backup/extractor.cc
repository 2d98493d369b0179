#include "backup/extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "backup/incomplete.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

bool IsOid(absl::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Collapses repeated slashes and drops a trailing one, so "/a//b/" maps like "/a/b" (the
// same canonicalization pg_basebackup applies to -T paths).
std::string CanonicalDir(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// "." or "./" (any mix of "." components and slashes, not starting with '/').
bool IsRootName(absl::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (!part.empty() && part != ".") return false;
  }
  return true;
}

absl::Status NotEmptyError(absl::string_view dir) {
  return absl::FailedPreconditionError(
      absl::StrCat("directory \"", dir, "\" exists but is not empty"));
}

}  // namespace

absl::StatusOr<std::string> TablespaceOidFromArchiveName(absl::string_view archive_name) {
  if (archive_name == "base.tar") return std::string();
  absl::string_view oid = archive_name;
  if (absl::ConsumeSuffix(&oid, ".tar") && IsOid(oid)) return std::string(oid);
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected archive name \"", absl::CHexEscape(archive_name), "\""));
}

BackupExtractor::BackupExtractor(ExtractorOptions options, FileObserver* observer)
    : options_(std::move(options)), observer_(observer) {}

BackupExtractor::~BackupExtractor() = default;

absl::StatusOr<std::unique_ptr<BackupExtractor>> BackupExtractor::Create(ExtractorOptions options,
                                                                         FileObserver* observer) {
  if (options.target_dir.empty()) return absl::InvalidArgumentError("empty target directory");
  if (options.write_buffer_size == 0) options.write_buffer_size = 4096;
  if (options.file_ops == nullptr) options.file_ops = DefaultFileOps();
  std::map<std::string, std::string> mapping;
  for (const auto& [from, to] : options.tablespace_mapping) {
    if (!absl::StartsWith(from, "/") || !absl::StartsWith(to, "/")) {
      return absl::InvalidArgumentError(absl::StrCat("tablespace mapping \"", from, "\"=\"", to,
                                                     "\": both paths must be absolute"));
    }
    mapping[CanonicalDir(from)] = CanonicalDir(to);
  }
  options.tablespace_mapping = std::move(mapping);
  options.target_dir = CanonicalDir(options.target_dir);

  std::unique_ptr<BackupExtractor> x(new BackupExtractor(std::move(options), observer));
  const std::string& target = x->options_.target_dir;
  bool created = false;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenOrCreateDir(target, &created));
  ASSIGN_OR_RETURN(bool empty, IsDirEmpty(fd.get(), target));
  if (!empty) return NotEmptyError(target);
  // First thing written, so that nothing of a half-done backup exists without it.
  FileOps* ops = x->options_.file_ops;
  RETURN_IF_ERROR(CreateIncompleteMarker(target, ops));
  if (created) RETURN_IF_ERROR(ops->SyncDir(DirName(target)));
  x->roots_.push_back(Root{target, "", std::move(fd)});
  x->writer_ = std::make_unique<FileWriter>(x->options_.write_buffer_size,
                                            x->options_.write_buffers, x->options_.direct_io);
  RETURN_IF_ERROR(x->writer_->status());
  return x;
}

bool BackupExtractor::IsMapped(absl::string_view server_location) const {
  return options_.tablespace_mapping.contains(CanonicalDir(server_location));
}

absl::Status BackupExtractor::CheckInPlace(const std::string& location) const {
  if (!absl::StartsWith(location, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tablespace location \"", absl::CHexEscape(location),
                     "\" is not absolute; map it with tablespace_mapping"));
  }
  const std::string canonical = CanonicalDir(location);
  const std::string& target = options_.target_dir;
  auto within = [](const std::string& path, const std::string& dir) {
    return path == dir || dir == "/" || absl::StartsWith(path, absl::StrCat(dir, "/"));
  };
  for (const std::string& dir : {target, CanonicalDir(options_.protected_dir)}) {
    if (dir.empty()) continue;
    if (within(canonical, dir) || within(dir, canonical)) {
      return absl::InvalidArgumentError(absl::StrCat("tablespace location \"", canonical,
                                                     "\" overlaps \"", dir,
                                                     "\"; map it with tablespace_mapping"));
    }
  }
  // Absent is fine (created later, the same way); present must be a real, empty directory.
  absl::StatusOr<UniqueFd> fd = OpenUntrustedAbsoluteDir(canonical, /*create=*/false, nullptr);
  if (!fd.ok()) {
    if (fd.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    return absl::Status(fd.status().code(),
                        absl::StrCat("tablespace location \"", canonical,
                                     "\" cannot be used in place: ", fd.status().message()));
  }
  ASSIGN_OR_RETURN(bool empty, IsDirEmpty(fd->get(), canonical));
  if (!empty) return NotEmptyError(canonical);
  return absl::OkStatus();
}

absl::Status BackupExtractor::CheckTablespaces(
    absl::Span<const std::string> server_locations) const {
  std::vector<std::string> unmapped;
  for (const std::string& location : server_locations) {
    if (IsMapped(location)) continue;
    if (!options_.tablespaces_in_place) {
      unmapped.push_back(absl::StrCat("\"", absl::CHexEscape(location), "\""));
      continue;
    }
    RETURN_IF_ERROR(CheckInPlace(location));
  }
  if (!unmapped.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the primary has tablespaces at ", absl::StrJoin(unmapped, ", "),
                     " that tablespace_mapping does not map: map each to a local directory, or set "
                     "tablespaces_in_place to use the same paths here"));
  }
  return absl::OkStatus();
}

std::string BackupExtractor::MappedLocation(absl::string_view server_location) const {
  std::string canonical = CanonicalDir(server_location);
  auto it = options_.tablespace_mapping.find(canonical);
  return it == options_.tablespace_mapping.end() ? canonical : it->second;
}

absl::Status BackupExtractor::BeginArchive(absl::string_view tablespace_oid,
                                           absl::string_view server_location) {
  if (in_archive_) return absl::FailedPreconditionError("previous archive not ended");
  if (tablespace_oid.empty()) {
    current_root_ = 0;
    in_archive_ = true;
    return absl::OkStatus();
  }
  if (!IsOid(tablespace_oid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad tablespace OID \"", absl::CHexEscape(tablespace_oid), "\""));
  }
  std::string oid(tablespace_oid);
  if (tablespace_dirs_.contains(oid)) {
    return absl::InvalidArgumentError(absl::StrCat("tablespace ", oid, " sent twice"));
  }
  if (!absl::StartsWith(server_location, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tablespace ", oid, " location \"", server_location, "\" is not absolute"));
  }
  const bool mapped = IsMapped(server_location);
  if (!mapped) {
    // CheckTablespaces said so already for the announced ones; this catches the rest.
    if (!options_.tablespaces_in_place) {
      return absl::InvalidArgumentError(
          absl::StrCat("tablespace ", oid, " at \"", server_location,
                       "\" is not in tablespace_mapping (and tablespaces_in_place is off)"));
    }
    RETURN_IF_ERROR(CheckInPlace(std::string(server_location)));
  }
  std::string local = MappedLocation(server_location);
  // Listed in the target's marker before it is touched, so ClearIncomplete can find it.
  FileOps* ops = options_.file_ops;
  RETURN_IF_ERROR(RecordTablespaceInMarker(roots_[0].path, local, ops));
  bool created = false;
  // The operator's own path is trusted like the target; the primary's is not.
  absl::StatusOr<UniqueFd> opened =
      mapped ? OpenOrCreateDir(local, &created)
             : OpenUntrustedAbsoluteDir(local, /*create=*/true, &created);
  if (!opened.ok()) return opened.status();
  UniqueFd fd = *std::move(opened);
  ASSIGN_OR_RETURN(bool empty, IsDirEmpty(fd.get(), local));
  if (!empty) return NotEmptyError(local);
  RETURN_IF_ERROR(CreateIncompleteMarker(local, ops));
  if (created) RETURN_IF_ERROR(ops->SyncDir(DirName(local)));
  roots_.push_back(Root{local, absl::StrCat("pg_tblspc/", oid, "/"), std::move(fd)});
  tablespace_dirs_[oid] = local;
  if (local != CanonicalDir(server_location)) relocated_ = true;
  current_root_ = roots_.size() - 1;
  in_archive_ = true;
  return absl::OkStatus();
}

absl::Status BackupExtractor::EndArchive() {
  if (file_.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("archive ended inside member ", file_display_));
  }
  in_archive_ = false;
  // An archive's files are whole on disk when it ends (and a failed write is its error).
  return writer_->Drain();
}

void BackupExtractor::NoteDir(size_t root, absl::Span<const std::string> components) {
  std::string key = absl::StrCat(root, "/", absl::StrJoin(components, "/"));
  if (dir_keys_.insert(key).second) {
    dirs_.push_back(Entry{root, std::vector<std::string>(components.begin(), components.end())});
  }
}

absl::Status BackupExtractor::OnMember(const TarMember& member) {
  if (!in_archive_) return absl::FailedPreconditionError("member outside an archive");
  if (file_.valid()) return absl::InternalError("member started inside another member");
  synced_ = false;
  const Root& root = roots_[current_root_];
  // "./" (as `tar -C dir .` writes first) names the root itself: nothing to create.
  if (member.type == TarMember::Type::kDirectory && IsRootName(member.name)) {
    return absl::OkStatus();
  }
  auto parts = SplitMemberPath(member.name);
  if (!parts.ok()) {
    return absl::Status(parts.status().code(),
                        absl::StrCat(parts.status().message(), " in ", root.path));
  }
  std::string display = absl::StrCat(root.path, "/", JoinPath(*parts));
  if (current_root_ == 0 && parts->size() == 1 && (*parts)[0] == kIncompleteMarkerName) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive member \"", display, "\" collides with the backup marker"));
  }
  switch (member.type) {
    case TarMember::Type::kDirectory: {
      absl::Span<const std::string> all(*parts);
      for (size_t i = 1; i <= all.size(); ++i) NoteDir(current_root_, all.subspan(0, i));
      ASSIGN_OR_RETURN(UniqueFd dir, WalkDirs(root.fd.get(), all, /*create=*/true, display));
      return absl::OkStatus();
    }
    case TarMember::Type::kSymlink:
      return CreateSymlink(*parts, member, display);
    case TarMember::Type::kRegular:
      // With TABLESPACE_MAP the server sends this file instead of the pg_tblspc links, and
      // PostgreSQL recreates the links from it at startup, pointing at the primary's paths:
      // that would silently undo a tablespace mapping.
      if (current_root_ == 0 && relocated_ && parts->size() == 1 &&
          (*parts)[0] == "tablespace_map") {
        return absl::FailedPreconditionError(
            absl::StrCat("archive member \"", display, "\" would undo the tablespace mapping; ",
                         "request BASE_BACKUP without TABLESPACE_MAP"));
      }
      return StartFile(*parts, display, /*observe=*/true);
  }
  return absl::InternalError("unknown member type");
}

absl::Status BackupExtractor::CreateSymlink(const std::vector<std::string>& parts,
                                            const TarMember& member, const std::string& display) {
  // PostgreSQL only ever sends pg_tblspc/<oid> links; any other symlink could later steer a
  // write (ours or the server's) outside the data directory.
  if (current_root_ != 0 || parts.size() != 2 || parts[0] != "pg_tblspc" || !IsOid(parts[1])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symlink member \"", display, "\" refused: only pg_tblspc/<oid> may be a symlink"));
  }
  if (!absl::StartsWith(member.linkname, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tablespace link \"", display, "\" target is not absolute"));
  }
  std::string local = MappedLocation(member.linkname);
  auto it = tablespace_dirs_.find(parts[1]);
  if (it == tablespace_dirs_.end()) {
    return absl::DataLossError(
        absl::StrCat("tablespace link \"", display, "\" has no tablespace archive before it"));
  }
  if (it->second != local) {
    return absl::DataLossError(absl::StrCat("tablespace link \"", display, "\" points at \"", local,
                                            "\" but its archive went to \"", it->second, "\""));
  }
  NoteDir(0, absl::MakeConstSpan(parts).subspan(0, 1));
  ASSIGN_OR_RETURN(UniqueFd parent,
                   WalkDirs(roots_[0].fd.get(), absl::MakeConstSpan(parts).subspan(0, 1),
                            /*create=*/true, display));
  if (symlinkat(local.c_str(), parent.get(), parts[1].c_str()) != 0) {
    return ErrnoStatus("symlink", display, errno);
  }
  return absl::OkStatus();
}

absl::Status BackupExtractor::StartFile(const std::vector<std::string>& parts,
                                        const std::string& display, bool observe) {
  absl::Span<const std::string> dirs = absl::MakeConstSpan(parts).subspan(0, parts.size() - 1);
  for (size_t i = 1; i <= dirs.size(); ++i) NoteDir(current_root_, dirs.subspan(0, i));
  ASSIGN_OR_RETURN(UniqueFd parent,
                   WalkDirs(roots_[current_root_].fd.get(), dirs, /*create=*/true, display));
  // O_EXCL|O_NOFOLLOW: never write through a link or over something already extracted.
  int fd = openat(parent.get(), parts.back().c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", display, errno);
  file_ = UniqueFd(fd);
  file_display_ = display;
  buffer_fill_ = 0;
  files_.push_back(Entry{current_root_, parts});
  observing_ = observe && observer_ != nullptr;
  if (observing_) {
    RETURN_IF_ERROR(observer_->OnFileBegin(
        absl::StrCat(roots_[current_root_].manifest_prefix, JoinPath(parts))));
  }
  return absl::OkStatus();
}

absl::Status BackupExtractor::FlushBuffer() {
  if (buffer_fill_ == 0) return absl::OkStatus();
  writer_->Write(file_.get(), std::exchange(buffer_, nullptr), buffer_fill_, file_display_);
  buffer_fill_ = 0;
  return writer_->status();
}

absl::Status BackupExtractor::OnData(absl::string_view bytes) {
  if (!file_.valid()) return absl::InternalError("data outside a file member");
  if (observing_) RETURN_IF_ERROR(observer_->OnFileData(bytes));
  bytes_written_ += bytes.size();
  while (!bytes.empty()) {
    if (buffer_ == nullptr) {
      buffer_ = writer_->Buffer();
      if (buffer_ == nullptr) return writer_->status();  // a write failed
    }
    size_t n = std::min(options_.write_buffer_size - buffer_fill_, bytes.size());
    std::memcpy(buffer_ + buffer_fill_, bytes.data(), n);
    buffer_fill_ += n;
    bytes.remove_prefix(n);
    if (buffer_fill_ == options_.write_buffer_size) RETURN_IF_ERROR(FlushBuffer());
  }
  return absl::OkStatus();
}

absl::Status BackupExtractor::OnMemberEnd() {
  if (!file_.valid()) return absl::OkStatus();  // directories and symlinks
  RETURN_IF_ERROR(FlushBuffer());
  // Closed by the writer after its last write; a failed close is reported like a write.
  writer_->Close(file_.Release(), file_display_);
  ++files_written_;
  if (observing_) RETURN_IF_ERROR(observer_->OnFileEnd());
  observing_ = false;
  return absl::OkStatus();
}

absl::Status BackupExtractor::WriteFile(absl::string_view relative_path,
                                        absl::string_view contents) {
  if (file_.valid()) return absl::FailedPreconditionError("a member is still being written");
  synced_ = false;
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitMemberPath(relative_path));
  size_t saved_root = std::exchange(current_root_, 0);
  absl::Status s = StartFile(parts, absl::StrCat(roots_[0].path, "/", JoinPath(parts)),
                             /*observe=*/false);
  if (s.ok()) s = OnData(contents);
  if (s.ok()) s = OnMemberEnd();
  if (s.ok()) s = writer_->Drain();  // whole on disk when this returns, as before
  current_root_ = saved_root;
  return s;
}

absl::Status BackupExtractor::SyncAll() {
  if (file_.valid()) return absl::FailedPreconditionError("a member is still being written");
  // Every write queued so far has been made (and every file closed) before any fsync.
  RETURN_IF_ERROR(writer_->Drain());
  // Files first, then the directories holding their names, as pg_basebackup does. Parents
  // are re-walked without following links: the tree is untrusted even after extraction.
  // Files synced by an earlier call are not synced again (the second call, after
  // backup_manifest, needs only that file); directories are, having new names in them.
  auto cancelled = [this]() -> absl::Status {
    if (options_.cancel != nullptr && options_.cancel->cancelled()) {
      return absl::CancelledError("cancelled while syncing the backup to disk");
    }
    return absl::OkStatus();
  };
  std::string cached_key;
  UniqueFd cached_parent;
  for (size_t i = synced_files_; i < files_.size(); ++i) {
    RETURN_IF_ERROR(cancelled());
    const Entry& e = files_[i];
    const Root& root = roots_[e.root];
    absl::Span<const std::string> dirs =
        absl::MakeConstSpan(e.components).subspan(0, e.components.size() - 1);
    std::string display = absl::StrCat(root.path, "/", JoinPath(e.components));
    std::string key = absl::StrCat(e.root, "/", absl::StrJoin(dirs, "/"));
    if (key != cached_key || !cached_parent.valid()) {
      ASSIGN_OR_RETURN(cached_parent, WalkDirs(root.fd.get(), dirs, /*create=*/false, display));
      cached_key = key;
    }
    int fd =
        openat(cached_parent.get(), e.components.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", display, errno);
    UniqueFd file(fd);
    RETURN_IF_ERROR(FsyncFd(fd, display));
  }
  for (const Entry& d : dirs_) {
    RETURN_IF_ERROR(cancelled());
    const Root& root = roots_[d.root];
    std::string display = absl::StrCat(root.path, "/", JoinPath(d.components));
    ASSIGN_OR_RETURN(UniqueFd dir, WalkDirs(root.fd.get(), d.components, false, display));
    RETURN_IF_ERROR(FsyncFd(dir.get(), display));
  }
  for (const Root& root : roots_) RETURN_IF_ERROR(FsyncFd(root.fd.get(), root.path));
  synced_files_ = files_.size();
  synced_ = true;
  return absl::OkStatus();
}

absl::Status BackupExtractor::MarkComplete() {
  if (!synced_) return absl::FailedPreconditionError("MarkComplete before SyncAll");
  // Tablespaces first: the target's marker is what says the backup as a whole is unusable.
  for (size_t i = roots_.size(); i-- > 0;) {
    RETURN_IF_ERROR(RemoveIncompleteMarker(roots_[i].path, options_.file_ops));
  }
  return absl::OkStatus();
}

}  // namespace walrep
