#include "replay/crash_file_ops.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::string Normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// {parent, name}; a name without a slash lives in "".
std::pair<std::string, std::string> Split(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

// An open file: a reference to its inode, which outlives renames and removals of the
// names it was opened by, as a descriptor does.
class CrashFile final : public File {
 public:
  CrashFile(CrashFileOps* ops, std::string path, std::shared_ptr<CrashFileOps::Inode> inode,
            bool writable)
      : ops_(ops), path_(std::move(path)), inode_(std::move(inode)), writable_(writable) {}

  absl::Status WriteAt(uint64_t offset, absl::string_view data) override {
    const int bad = closed_ ? EBADF : (writable_ ? 0 : EBADF);
    return ops_->FileWrite(path_, inode_, bad, offset, data);
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t n, char* buf) override {
    return ops_->FileRead(path_, *inode_, closed_ ? EBADF : 0, offset, n, buf);
  }
  absl::StatusOr<uint64_t> Size() override {
    return ops_->FileStat(path_, *inode_, closed_ ? EBADF : 0);
  }
  absl::Status Sync() override { return ops_->FileSync(path_, inode_.get(), closed_ ? EBADF : 0); }
  absl::Status Truncate(uint64_t size) override {
    const int bad = closed_ ? EBADF : (writable_ ? 0 : EINVAL);
    return ops_->FileTruncate(path_, inode_, bad, size);
  }
  absl::Status Close() override {
    const int bad = closed_ ? EBADF : 0;
    closed_ = true;  // as close(2): the descriptor is gone even when it reports an error
    return ops_->FileClose(path_, bad);
  }
  const std::string& path() const override { return path_; }

 private:
  CrashFileOps* const ops_;
  const std::string path_;
  const std::shared_ptr<CrashFileOps::Inode> inode_;
  const bool writable_;
  bool closed_ = false;
};

void CrashFileOps::MakeDurableDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string path = Normalize(dir);
  std::vector<std::string> chain;
  if (path.size() > 1 && path[0] == '/') chain.push_back("/");
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/') chain.push_back(path.substr(0, i));
  }
  chain.push_back(path);
  for (const std::string& d : chain) {
    Dir& made = dirs_[d];
    made.root = true;
    if (d == "/") continue;
    auto [parent, name] = Split(d);
    auto it = dirs_.find(parent);
    if (it == dirs_.end()) continue;
    it->second.live[name] = Entry{};
    it->second.durable[name] = Entry{};
  }
}

void CrashFileOps::set_cut(uint64_t op, uint64_t torn_sectors) {
  absl::MutexLock lock(&mu_);
  cut_ = op;
  torn_sectors_ = torn_sectors;
}

void CrashFileOps::Reboot() {
  absl::MutexLock lock(&mu_);
  // Parents come first in the map, so a lost directory is gone before its children ask
  // for it.
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (!DurablyExists(it->first)) {
      it = dirs_.erase(it);
      continue;
    }
    it->second.live = it->second.durable;
    for (auto& [name, entry] : it->second.live) {
      if (entry.is_dir()) continue;
      entry.file->data = entry.file->durable;
      entry.file->dirty.clear();
    }
    ++it;
  }
  off_ = false;
  cut_ = 0;
  torn_sectors_ = 0;
  last_written_.reset();
}

uint64_t CrashFileOps::ops() const {
  absl::MutexLock lock(&mu_);
  return log_.size();
}

bool CrashFileOps::powered_off() const {
  absl::MutexLock lock(&mu_);
  return off_;
}

std::string CrashFileOps::OpName(uint64_t n) const {
  absl::MutexLock lock(&mu_);
  if (n == 0 || n > log_.size()) return "";
  return log_[n - 1];
}

absl::Status CrashFileOps::Begin(const char* what, const std::string& path, Inode* victim) {
  log_.push_back(absl::StrCat(what, " ", path));
  if (!off_ && cut_ != 0 && log_.size() >= cut_) {
    off_ = true;
    TearAtCut(victim);
  }
  if (off_) return ErrnoStatus(what, path, EIO);
  return absl::OkStatus();
}

void CrashFileOps::TearAtCut(Inode* victim) {
  if (torn_sectors_ == 0) return;
  std::shared_ptr<Inode> last = last_written_.lock();
  Inode* f = victim != nullptr ? victim : last.get();
  if (f == nullptr) return;
  // Writeback goes in file order, and the power fails after `torn_sectors_` of them.
  uint64_t left = torn_sectors_;
  for (size_t i = 0; i < f->dirty.size() && left > 0; ++i) {
    if (!f->dirty[i]) continue;
    --left;
    const uint64_t begin = uint64_t{i} * kSectorSize;
    if (begin >= f->data.size()) continue;  // truncated since it was written
    const uint64_t end = std::min<uint64_t>(begin + kSectorSize, f->data.size());
    if (f->durable.size() < end) f->durable.resize(end, '\0');
    std::memcpy(f->durable.data() + begin, f->data.data() + begin, end - begin);
  }
}

absl::StatusOr<CrashFileOps::Entry*> CrashFileOps::Lookup(const char* what,
                                                          const std::string& path) {
  auto [parent, name] = Split(path);
  auto dir = dirs_.find(parent);
  if (dir == dirs_.end()) return ErrnoStatus(what, path, ENOENT);
  auto it = dir->second.live.find(name);
  if (it == dir->second.live.end()) return ErrnoStatus(what, path, ENOENT);
  return &it->second;
}

bool CrashFileOps::DurablyExists(const std::string& dir) const {
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return false;
  if (it->second.root) return true;
  auto [parent, name] = Split(dir);
  auto p = dirs_.find(parent);
  if (p == dirs_.end() || !DurablyExists(parent)) return false;
  auto e = p->second.durable.find(name);
  return e != p->second.durable.end() && e->second.is_dir();
}

absl::Status CrashFileOps::Materialize(const std::string& real_dir) const {
  absl::MutexLock lock(&mu_);
  FileOps* real = DefaultFileOps();
  // std::map order puts every directory before its subdirectories.
  for (const auto& [path, dir] : dirs_) {
    if (!DurablyExists(path)) continue;
    const std::string rel = path.substr(path[0] == '/' ? 1 : 0);
    const std::string target = rel.empty() ? real_dir : JoinPath(real_dir, rel);
    RETURN_IF_ERROR(real->CreateDir(target));
    for (const auto& [name, entry] : dir.durable) {
      if (entry.is_dir()) continue;
      ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                       real->Open(JoinPath(target, name), OpenMode::kCreateTruncate));
      RETURN_IF_ERROR(f->WriteAt(0, entry.file->durable));
      RETURN_IF_ERROR(f->Close());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CrashFileOps::DurableContent(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto [parent, name] = Split(Normalize(path));
  auto dir = dirs_.find(parent);
  if (dir == dirs_.end() || !DurablyExists(parent)) {
    return absl::NotFoundError(absl::StrCat("no durable directory for ", path));
  }
  auto it = dir->second.durable.find(name);
  if (it == dir->second.durable.end() || it->second.is_dir()) {
    return absl::NotFoundError(absl::StrCat("no durable file ", path));
  }
  return it->second.file->durable;
}

absl::StatusOr<std::unique_ptr<File>> CrashFileOps::Open(const std::string& path, OpenMode mode) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(path);
  RETURN_IF_ERROR(Begin("open", p));
  auto [parent, name] = Split(p);
  auto dir = dirs_.find(parent);
  if (dir == dirs_.end()) return ErrnoStatus("open", p, ENOENT);
  auto it = dir->second.live.find(name);
  std::shared_ptr<Inode> inode;
  const bool create = mode == OpenMode::kCreateTruncate || mode == OpenMode::kCreateExclusive;
  if (it == dir->second.live.end()) {
    if (!create) return ErrnoStatus("open", p, ENOENT);
    inode = std::make_shared<Inode>();
    dir->second.live[name] = Entry{inode};
  } else {
    if (mode == OpenMode::kCreateExclusive) return ErrnoStatus("open", p, EEXIST);
    if (it->second.is_dir()) return ErrnoStatus("open", p, EISDIR);
    inode = it->second.file;
    // Like the data, the shorter size is durable only at the next Sync().
    if (mode == OpenMode::kCreateTruncate) inode->data.clear();
  }
  return std::unique_ptr<File>(new CrashFile(this, p, std::move(inode), mode != OpenMode::kRead));
}

absl::Status CrashFileOps::Rename(const std::string& from, const std::string& to) {
  absl::MutexLock lock(&mu_);
  const std::string f = Normalize(from);
  const std::string t = Normalize(to);
  const std::string both = absl::StrCat(f, " -> ", t);
  RETURN_IF_ERROR(Begin("rename", both));
  ASSIGN_OR_RETURN(Entry * src, Lookup("rename", f));
  if (src->is_dir()) return absl::UnimplementedError("CrashFileOps cannot rename directories");
  auto [to_parent, to_name] = Split(t);
  auto dst = dirs_.find(to_parent);
  if (dst == dirs_.end()) return ErrnoStatus("rename", both, ENOENT);
  auto existing = dst->second.live.find(to_name);
  if (existing != dst->second.live.end() && existing->second.is_dir()) {
    return ErrnoStatus("rename", both, EISDIR);
  }
  if (f == t) return absl::OkStatus();
  Entry moved = *src;
  auto [from_parent, from_name] = Split(f);
  dirs_[from_parent].live.erase(from_name);
  dst->second.live[to_name] = std::move(moved);
  return absl::OkStatus();
}

absl::Status CrashFileOps::Remove(const std::string& path) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(path);
  RETURN_IF_ERROR(Begin("unlink", p));
  ASSIGN_OR_RETURN(Entry * e, Lookup("unlink", p));
  if (e->is_dir()) return ErrnoStatus("unlink", p, EISDIR);
  auto [parent, name] = Split(p);
  dirs_[parent].live.erase(name);
  return absl::OkStatus();
}

absl::Status CrashFileOps::SyncDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(dir);
  RETURN_IF_ERROR(Begin("fsync directory", p));
  auto it = dirs_.find(p);
  if (it == dirs_.end()) return ErrnoStatus("fsync directory", p, ENOENT);
  it->second.durable = it->second.live;
  return absl::OkStatus();
}

absl::Status CrashFileOps::CreateDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(dir);
  RETURN_IF_ERROR(Begin("mkdir", p));
  if (dirs_.contains(p)) return absl::OkStatus();
  auto [parent, name] = Split(p);
  auto it = dirs_.find(parent);
  if (it == dirs_.end()) return ErrnoStatus("mkdir", p, ENOENT);
  if (it->second.live.contains(name)) return ErrnoStatus("mkdir", p, EEXIST);
  it->second.live[name] = Entry{};
  dirs_[p];
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CrashFileOps::ListDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(dir);
  RETURN_IF_ERROR(Begin("opendir", p));
  auto it = dirs_.find(p);
  if (it == dirs_.end()) return ErrnoStatus("opendir", p, ENOENT);
  std::vector<std::string> names;
  for (const auto& [name, entry] : it->second.live) names.push_back(name);
  return names;
}

absl::StatusOr<uint64_t> CrashFileOps::FileSize(const std::string& path) {
  absl::MutexLock lock(&mu_);
  const std::string p = Normalize(path);
  RETURN_IF_ERROR(Begin("stat", p));
  ASSIGN_OR_RETURN(Entry * e, Lookup("stat", p));
  if (e->is_dir()) return ErrnoStatus("stat", p, EISDIR);
  return e->file->data.size();
}

absl::Status CrashFileOps::FileWrite(const std::string& path, const std::shared_ptr<Inode>& inode,
                                     int bad, uint64_t offset, absl::string_view data) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("write", path));
  if (bad != 0) return ErrnoStatus("write", path, bad);
  if (data.empty()) return absl::OkStatus();
  const uint64_t end = offset + data.size();
  if (inode->data.size() < end) inode->data.resize(end, '\0');
  std::memcpy(inode->data.data() + offset, data.data(), data.size());
  const uint64_t last = (end - 1) / kSectorSize;
  if (inode->dirty.size() <= last) inode->dirty.resize(last + 1, false);
  for (uint64_t s = offset / kSectorSize; s <= last; ++s) inode->dirty[s] = true;
  last_written_ = inode;
  return absl::OkStatus();
}

absl::Status CrashFileOps::FileTruncate(const std::string& path,
                                        const std::shared_ptr<Inode>& inode, int bad,
                                        uint64_t size) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("truncate", path));
  if (bad != 0) return ErrnoStatus("truncate", path, bad);
  // Like the data, the new size is durable only at the next Sync(): a cut before it
  // leaves the old length (the durable copy is untouched until then).
  inode->data.resize(size, '\0');
  const uint64_t sectors = (size + kSectorSize - 1) / kSectorSize;
  if (inode->dirty.size() < sectors) inode->dirty.resize(sectors, false);
  if (sectors > 0) inode->dirty[sectors - 1] = true;
  last_written_ = inode;
  return absl::OkStatus();
}

absl::StatusOr<size_t> CrashFileOps::FileRead(const std::string& path, const Inode& inode, int bad,
                                              uint64_t offset, size_t n, char* buf) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("read", path));
  if (bad != 0) return ErrnoStatus("read", path, bad);
  if (offset >= inode.data.size()) return 0;
  const size_t got = static_cast<size_t>(std::min<uint64_t>(n, inode.data.size() - offset));
  std::memcpy(buf, inode.data.data() + offset, got);
  return got;
}

absl::StatusOr<uint64_t> CrashFileOps::FileStat(const std::string& path, const Inode& inode,
                                                int bad) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("fstat", path));
  if (bad != 0) return ErrnoStatus("fstat", path, bad);
  return inode.data.size();
}

absl::Status CrashFileOps::FileSync(const std::string& path, Inode* inode, int bad) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("fdatasync", path, inode));
  if (bad != 0) return ErrnoStatus("fdatasync", path, bad);
  inode->durable = inode->data;
  inode->dirty.clear();
  return absl::OkStatus();
}

absl::Status CrashFileOps::FileClose(const std::string& path, int bad) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Begin("close", path));
  if (bad != 0) return ErrnoStatus("close", path, bad);
  return absl::OkStatus();
}

}  // namespace walrep
