#include "backup/recovery_conf.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backup/path_safety.h"
#include "backup/tar_writer.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr absl::string_view kAutoConf = "postgresql.auto.conf";
constexpr absl::string_view kStandbySignal = "standby.signal";
// An auto.conf larger than this is not PostgreSQL's (ALTER SYSTEM writes a few lines).
constexpr size_t kMaxAutoConf = size_t{16} << 20;

// libpq's keyword='value': backslash and quote escaped with a backslash.
std::string ConninfoQuote(absl::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// A configuration-file string: quote and backslash doubled (PostgreSQL's escape_quotes).
std::string ConfQuote(absl::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

bool IsAutoConfName(absl::string_view name) {
  return name == kAutoConf || name == absl::StrCat("./", kAutoConf);
}

}  // namespace

std::string RecoveryConfLines(const ConnInfo& conninfo, absl::string_view slot_name) {
  std::string ci;
  for (const std::string& k : conninfo.SetKeywords()) {
    // The walreceiver sets replication and dbname itself.
    if (k == "replication" || k == "dbname" || k == "fallback_application_name") continue;
    std::string v = k == "password" ? conninfo.password() : conninfo.Get(k);
    if (v.empty()) continue;
    if (!ci.empty()) ci.push_back(' ');
    absl::StrAppend(&ci, k, "=", ConninfoQuote(v));
  }
  std::string lines = absl::StrCat("primary_conninfo = ", ConfQuote(ci), "\n");
  if (!slot_name.empty()) absl::StrAppend(&lines, "primary_slot_name = ", ConfQuote(slot_name), "\n");
  return lines;
}

absl::Status WriteRecoveryConf(const std::string& data_dir, absl::string_view lines) {
  int dfd = open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus("open", data_dir, errno);
  UniqueFd dir(dfd);
  std::string display = absl::StrCat(data_dir, "/", kAutoConf);
  std::string content;
  int in = openat(dir.get(), std::string(kAutoConf).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in >= 0) {
    UniqueFd f(in);
    char buf[8192];
    while (true) {
      ssize_t n = read(f.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read", display, errno);
      }
      if (n == 0) break;
      content.append(buf, static_cast<size_t>(n));
      if (content.size() > kMaxAutoConf) {
        return absl::FailedPreconditionError(absl::StrCat(display, " is larger than ",
                                                          kMaxAutoConf, " bytes"));
      }
    }
  } else if (errno != ENOENT) {
    return ErrnoStatus("open", display, errno);
  }
  if (!content.empty() && content.back() != '\n') content.push_back('\n');
  content.append(lines.data(), lines.size());

  const std::string tmp = absl::StrCat(kAutoConf, ".walrep-tmp");
  unlinkat(dir.get(), tmp.c_str(), 0);  // left by an interrupted attempt
  int out = openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   0600);
  if (out < 0) return ErrnoStatus("create", display, errno);
  {
    UniqueFd f(out);
    RETURN_IF_ERROR(WriteAllFd(f.get(), content, display));
    RETURN_IF_ERROR(FsyncFd(f.get(), display));
  }
  if (renameat(dir.get(), tmp.c_str(), dir.get(), std::string(kAutoConf).c_str()) != 0) {
    return ErrnoStatus("rename", display, errno);
  }
  std::string signal_display = absl::StrCat(data_dir, "/", kStandbySignal);
  int sig = openat(dir.get(), std::string(kStandbySignal).c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (sig < 0) return ErrnoStatus("create", signal_display, errno);
  {
    UniqueFd f(sig);
    RETURN_IF_ERROR(FsyncFd(f.get(), signal_display));
  }
  return FsyncFd(dir.get(), data_dir);
}

TarRecoveryInjector::TarRecoveryInjector(std::string lines, int64_t mtime, Out out)
    : lines_(std::move(lines)),
      mtime_(mtime),
      out_(std::move(out)),
      uid_(static_cast<uint32_t>(geteuid())),
      gid_(static_cast<uint32_t>(getegid())) {}

absl::Status TarRecoveryInjector::Feed(absl::string_view bytes) {
  if (finished_) return absl::FailedPreconditionError("tar injector: feed after finish");
  while (!bytes.empty()) {
    if (ended_) return absl::OkStatus();  // after the end marker: tar reads no further
    if (content_left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(content_left_, bytes.size()));
      absl::string_view piece = bytes.substr(0, n);
      if (holding_) {
        held_.append(piece.data(), piece.size());
      } else {
        RETURN_IF_ERROR(out_(piece));
      }
      content_left_ -= n;
      bytes.remove_prefix(n);
      if (content_left_ == 0 && holding_) {
        held_.resize(held_size_);  // the padding
        holding_ = false;
      }
      continue;
    }
    size_t n = std::min(kTarBlock - header_.size(), bytes.size());
    header_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (header_.size() == kTarBlock) RETURN_IF_ERROR(Header());
  }
  return absl::OkStatus();
}

absl::Status TarRecoveryInjector::Header() {
  std::string h = std::move(header_);
  header_.clear();
  if (h.find_first_not_of('\0') == std::string::npos) {
    // The first zero block is held back: if a second follows the archive ends here, and
    // our members must come before the marker.
    if (++zero_blocks_ == 2) ended_ = true;
    return absl::OkStatus();
  }
  if (zero_blocks_ == 1) RETURN_IF_ERROR(out_(std::string(kTarBlock, '\0')));
  zero_blocks_ = 0;
  char type = h[156];
  if (type == 'x' || type == 'g') {
    // A pax header may override the next member's size, which this pass-through reads
    // from the ustar field; PostgreSQL never writes one.
    return absl::InvalidArgumentError(
        "the main archive has pax headers: cannot add the standby configuration to it");
  }
  ASSIGN_OR_RETURN(uint64_t size, TarNumericField(absl::string_view(h).substr(124, 12)));
  content_left_ = size + TarPadding(size).size();
  absl::string_view name(h.data(), strnlen(h.data(), 100));
  bool prefix_empty = h[345] == '\0';
  bool ours = !hold_next_ && prefix_empty && (type == '0' || type == '\0') && IsAutoConfName(name);
  hold_next_ = type == 'L';  // a GNU long name: the next header's own name is not the name
  if (ours) {
    holding_ = true;
    held_.clear();
    held_size_ = size;
    if (auto uid = TarNumericField(absl::string_view(h).substr(108, 8)); uid.ok()) {
      uid_ = static_cast<uint32_t>(*uid);
    }
    if (auto gid = TarNumericField(absl::string_view(h).substr(116, 8)); gid.ok()) {
      gid_ = static_cast<uint32_t>(*gid);
    }
    if (content_left_ == 0) holding_ = false;
    return absl::OkStatus();
  }
  return out_(h);
}

absl::Status TarRecoveryInjector::WriteMember(absl::string_view name, absl::string_view content) {
  TarFileFields f;
  f.name = std::string(name);
  f.size = content.size();
  f.mode = 0600;
  f.uid = uid_;
  f.gid = gid_;
  f.mtime = mtime_;
  ASSIGN_OR_RETURN(std::string header, TarFileHeader(f));
  RETURN_IF_ERROR(out_(header));
  if (!content.empty()) RETURN_IF_ERROR(out_(content));
  return out_(TarPadding(content.size()));
}

absl::Status TarRecoveryInjector::Finish() {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  if (!ended_ && (!header_.empty() || content_left_ > 0)) {
    return absl::DataLossError("main archive truncated inside a member");
  }
  std::string conf = held_;
  if (!conf.empty() && conf.back() != '\n') conf.push_back('\n');
  conf += lines_;
  RETURN_IF_ERROR(WriteMember(kAutoConf, conf));
  RETURN_IF_ERROR(WriteMember(kStandbySignal, ""));
  return out_(TarEndOfArchive());
}

}  // namespace walrep
