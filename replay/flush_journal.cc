#include "replay/flush_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "wire/bytes.h"
#include "wire/crc32c.h"

namespace walrep {
namespace {

constexpr uint32_t kMagic = 0x57524A46;  // "WRFJ"
constexpr uint32_t kVersion = 1;
constexpr size_t kSlotSize = 512;
constexpr size_t kFileSize = 4096;
constexpr size_t kPayload = 28;

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

}  // namespace

std::string EncodeFlushSlot(const FlushRecord& r) {
  std::string out;
  ByteWriter w(&out);
  w.PutU32(kMagic);
  w.PutU32(kVersion);
  w.PutU64(r.seq);
  w.PutU64(r.flush_lsn.value());
  w.PutU32(r.timeline);
  w.PutU32(Crc32cFinish(Crc32cExtend(kCrc32cInit, out.data(), kPayload)));
  out.resize(kSlotSize, '\0');
  return out;
}

std::optional<FlushRecord> DecodeFlushSlot(absl::string_view slot) {
  if (slot.size() < kPayload + 4) return std::nullopt;
  ByteReader r(slot);
  uint32_t magic, version, tli, crc;
  uint64_t seq, lsn;
  if (!r.ReadU32(&magic) || !r.ReadU32(&version) || !r.ReadU64(&seq) || !r.ReadU64(&lsn) ||
      !r.ReadU32(&tli) || !r.ReadU32(&crc)) {
    return std::nullopt;
  }
  if (magic != kMagic || version != kVersion ||
      crc != Crc32cFinish(Crc32cExtend(kCrc32cInit, slot.data(), kPayload))) {
    return std::nullopt;
  }
  return FlushRecord{Lsn(lsn), tli, seq};
}

absl::StatusOr<std::optional<FlushRecord>> FlushJournal::Load(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<FlushRecord>();
    return Errno("cannot open", path);
  }
  std::string buf(2 * kSlotSize, '\0');
  ssize_t n = pread(fd, buf.data(), buf.size(), 0);
  int saved = errno;
  close(fd);
  if (n < 0) {
    errno = saved;
    return Errno("cannot read", path);
  }
  std::optional<FlushRecord> best;
  for (size_t i = 0; i < 2; ++i) {
    if (static_cast<size_t>(n) < (i + 1) * kSlotSize) break;
    auto rec = DecodeFlushSlot(absl::string_view(buf).substr(i * kSlotSize, kSlotSize));
    if (rec && (!best || rec->seq > best->seq)) best = rec;
  }
  return best;
}

absl::StatusOr<std::unique_ptr<FlushJournal>> FlushJournal::Open(const std::string& path) {
  auto existing = Load(path);
  if (!existing.ok()) return existing.status();
  bool created = false;
  if (access(path.c_str(), F_OK) != 0) {
    // Preallocate through a temporary and a rename, so the journal never exists short.
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", tmp);
    std::string zeros(kFileSize, '\0');
    bool ok = pwrite(fd, zeros.data(), zeros.size(), 0) == static_cast<ssize_t>(zeros.size()) &&
              fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
      errno = saved;
      return Errno("cannot preallocate", tmp);
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename", tmp);
    created = true;
  }
  // O_DIRECT skips the page cache and, on most file systems, the journal commit that an
  // fsync of a buffered write costs; tmpfs and some others refuse it.
  int fd = open(path.c_str(), O_WRONLY | O_DSYNC | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) fd = open(path.c_str(), O_WRONLY | O_DSYNC | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  if (created) {
    std::string dir = path.substr(0, path.rfind('/'));
    int dfd = open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
      if (dfd >= 0) close(dfd);
      close(fd);
      return Errno("cannot fsync directory of", path);
    }
    close(dfd);
  }
  uint64_t next = existing->has_value() ? (*existing)->seq + 1 : 1;
  return std::unique_ptr<FlushJournal>(new FlushJournal(fd, next, path));
}

FlushJournal::FlushJournal(int fd, uint64_t next_seq, std::string path)
    : fd_(fd), next_seq_(next_seq), path_(std::move(path)) {
  buf_ = static_cast<char*>(std::aligned_alloc(4096, 4096));
}

FlushJournal::~FlushJournal() {
  close(fd_);
  std::free(buf_);
}

absl::Status FlushJournal::Record(Lsn flush_lsn, TimelineId timeline) {
  FlushRecord rec{flush_lsn, timeline, next_seq_};
  std::string slot = EncodeFlushSlot(rec);
  std::memcpy(buf_, slot.data(), kSlotSize);
  off_t offset = static_cast<off_t>((next_seq_ % 2) * kSlotSize);
  ssize_t n = pwrite(fd_, buf_, kSlotSize, offset);
  if (n != static_cast<ssize_t>(kSlotSize)) {
    if (n >= 0) errno = EIO;
    return Errno("cannot write flush journal", path_);
  }
  ++next_seq_;
  return absl::OkStatus();
}

}  // namespace walrep
