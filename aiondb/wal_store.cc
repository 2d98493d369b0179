#include "aiondb/wal_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "aiondb/le.h"
#include "aiondb/wal_entry.h"
#include "replay/atomic_file.h"
#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {
namespace {

// A file far larger than aiondb ever writes is not read into memory.
constexpr uint64_t kMaxFileBytes = 256u << 20;

absl::StatusOr<std::string> ReadWhole(FileOps* ops, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(path, FileOps::OpenMode::kRead));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  if (size > kMaxFileBytes) {
    return absl::DataLossError(absl::StrCat(path, " is larger than any aiondb WAL file"));
  }
  std::string data(size, '\0');
  uint64_t got = 0;
  while (got < size) {
    ASSIGN_OR_RETURN(size_t n, f->ReadAt(got, size - got, data.data() + got));
    if (n == 0) break;
    got += n;
  }
  data.resize(got);
  return data;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WalStore>> WalStore::Open(Options options) {
  RETURN_IF_ERROR(CreateDirDurably(options.dir, options.ops));
  std::unique_ptr<WalStore> store(new WalStore(std::move(options)));
  RETURN_IF_ERROR(store->Recover());
  return store;
}

absl::Status WalStore::Recover() {
  FileOps* ops = options_.ops;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ops->ListDir(options_.dir));
  std::vector<uint64_t> seqs;
  for (const std::string& n : names) {
    if (std::optional<uint64_t> s = ParseWalFileName(n)) seqs.push_back(*s);
  }
  std::sort(seqs.begin(), seqs.end());
  absl::MutexLock lock(&mu_);
  ChainState chain;
  LsnMode header_mode = LsnMode::kUnknown;
  uint64_t entries = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const bool last = i + 1 == seqs.size();
    SegmentInfo seg;
    seg.sequence = seqs[i];
    seg.path = JoinPath(options_.dir, WalFileName(seqs[i]));
    ASSIGN_OR_RETURN(std::string data, ReadWhole(ops, seg.path));
    absl::StatusOr<std::optional<FileHeader>> header = DecodeFileHeader(data);
    if (!header.ok() || !header->has_value()) {
      if (last && (data.size() < kFileHeaderBytes)) {
        // Created but its header never made it to disk: begin it again.
        RETURN_IF_ERROR(ops->Remove(seg.path));
        RETURN_IF_ERROR(ops->SyncDir(options_.dir));
        break;
      }
      return absl::DataLossError(absl::StrCat(
          seg.path, ": ", header.ok() ? "truncated header" : header.status().message()));
    }
    const FileHeader& h = **header;
    if (header_mode == LsnMode::kUnknown) header_mode = h.lsn_mode;
    if (system_id_ == 0) system_id_ = h.system_id;
    if (h.timeline != 0) timeline_ = h.timeline;
    seg.entry_offset = h.entry_offset;
    size_t at = h.entry_offset;
    while (at < data.size()) {
      absl::StatusOr<std::optional<EntryHeader>> e = DecodeEntryHeader(absl::string_view(data).substr(at));
      absl::Status chained = absl::OkStatus();
      if (e.ok() && e->has_value()) {
        ChainState next = chain;
        if (entries == 0) {
          // The oldest entry kept may be anywhere (the primary recycles old files).
          next.last_lsn = (*e)->lsn;
          next.last_len = (*e)->encoded_len;
        } else {
          // A gap inside the files is damage too.
          chained = CheckNext(&next, **e);
        }
        if (chained.ok()) {
          chain = next;
          if (seg.first_lsn == 0) seg.first_lsn = (*e)->lsn;
          seg.last_lsn = (*e)->lsn;
          at += (*e)->encoded_len;
          ++entries;
          continue;
        }
      }
      // The end of valid WAL: incomplete, corrupt or out of chain.
      if (!last) {
        return absl::DataLossError(absl::StrCat(
            seg.path, " is damaged at byte ", at, " and is not the newest WAL file: ",
            !e.ok() ? e.status().message()
                    : (e->has_value() ? chained.message() : absl::string_view("truncated"))));
      }
      break;
    }
    seg.end = at;
    seg.durable_end = at;  // synced below before anything is reported
    if (last && at < data.size()) {
      // Cut off the torn tail so appended entries follow the last valid one.
      ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(seg.path, FileOps::OpenMode::kReadWrite));
      RETURN_IF_ERROR(f->Truncate(at));
      RETURN_IF_ERROR(f->Sync());
      RETURN_IF_ERROR(f->Close());
    }
    segments_.push_back(seg);
  }
  // The mode comes from the entries themselves (CheckNext), which the header must agree
  // with; a version 1 header has none.
  if (entries >= 2 && header_mode != LsnMode::kUnknown && chain.mode != header_mode) {
    return absl::DataLossError(absl::StrCat(options_.dir, ": the WAL files' header LSN mode "
                                            "disagrees with their entries"));
  }
  chain_ = chain;
  entries_recovered_ = entries;
  written_.store(chain.last_lsn);
  flushed_.store(chain.last_lsn);
  if (!segments_.empty()) {
    ASSIGN_OR_RETURN(active_, ops->Open(segments_.back().path, FileOps::OpenMode::kReadWrite));
    // Everything recovered is made durable before it is reported as flushed.
    RETURN_IF_ERROR(active_->Sync());
  }
  return absl::OkStatus();
}

ChainState WalStore::chain() const {
  absl::MutexLock lock(&mu_);
  return chain_;
}

LsnMode WalStore::mode() const {
  absl::MutexLock lock(&mu_);
  return chain_.mode;
}

void WalStore::SetIdentity(uint64_t system_id, uint32_t timeline) {
  if (system_id != 0) system_id_ = system_id;
  // Entries of a new timeline go to a file of their own, whose header names it.
  if (timeline != 0 && timeline_ != 0 && timeline != timeline_) rotate_ = true;
  if (timeline != 0) timeline_ = timeline;
}

bool WalStore::failed() const {
  absl::MutexLock lock(&mu_);
  return !failure_.ok();
}

absl::Status WalStore::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

absl::Status WalStore::Fail(absl::Status st) {
  absl::MutexLock lock(&mu_);
  if (failure_.ok()) failure_ = st;
  return st;
}

std::vector<SegmentInfo> WalStore::Segments() const {
  absl::MutexLock lock(&mu_);
  return segments_;
}

absl::Status WalStore::OpenNewFile() {
  uint64_t seq = 1;
  {
    absl::MutexLock lock(&mu_);
    if (!segments_.empty()) seq = segments_.back().sequence + 1;
  }
  if (active_) {
    // The previous file is complete: durable before the next one is begun.
    RETURN_IF_ERROR(active_->Sync());
    RETURN_IF_ERROR(active_->Close());
    active_.reset();
  }
  SegmentInfo seg;
  seg.sequence = seq;
  seg.path = JoinPath(options_.dir, WalFileName(seq));
  ASSIGN_OR_RETURN(active_, options_.ops->Open(seg.path, FileOps::OpenMode::kCreateExclusive));
  LsnMode mode;
  {
    absl::MutexLock lock(&mu_);
    mode = chain_.mode;
  }
  const std::string header = EncodeFileHeader(mode, system_id_, timeline_);
  RETURN_IF_ERROR(active_->WriteAt(0, header));
  seg.end = header.size();
  dir_dirty_ = true;
  absl::MutexLock lock(&mu_);
  segments_.push_back(seg);
  return absl::OkStatus();
}

absl::Status WalStore::Append(absl::string_view raw, const ChainState& after) {
  if (failed()) return failure();
  uint64_t end = 0;
  uint32_t file_timeline = 0;
  bool has_entries = false;
  {
    absl::MutexLock lock(&mu_);
    if (!segments_.empty()) {
      end = segments_.back().end;
      has_entries = segments_.back().last_lsn != 0;
    }
  }
  (void)file_timeline;
  if (!active_ || (has_entries && (rotate_ || end + raw.size() > options_.file_bytes))) {
    rotate_ = false;
    if (absl::Status st = OpenNewFile(); !st.ok()) return Fail(st);
    end = kFileHeaderBytes;
  }
  if (absl::Status st = active_->WriteAt(end, raw); !st.ok()) return Fail(st);
  absl::MutexLock lock(&mu_);
  // The mode became known with these entries: the files written while it was not say
  // Logical, which must be corrected in place before the next flush.
  if (chain_.mode == LsnMode::kUnknown && after.mode != LsnMode::kUnknown) header_dirty_ = true;
  SegmentInfo& seg = segments_.back();
  seg.end = end + raw.size();
  if (seg.first_lsn == 0) {
    // The first entry's LSN is at offset 4 of the raw bytes.
    seg.first_lsn = Le64(raw.data() + 4);
  }
  seg.last_lsn = after.last_lsn;
  chain_ = after;
  written_.store(after.last_lsn);
  return absl::OkStatus();
}

absl::Status WalStore::Flush() {
  if (failed()) return failure();
  if (!active_) return absl::OkStatus();
  std::vector<SegmentInfo> segs;
  LsnMode mode;
  bool header_dirty;
  {
    absl::MutexLock lock(&mu_);
    header_dirty = header_dirty_;
    header_dirty_ = false;
    mode = chain_.mode;
    segs = segments_;
  }
  if (header_dirty) {
    // Only files with fewer than two entries in all can carry a provisional mode; they
    // are the first ones of a fresh store.
    for (const SegmentInfo& s : segs) {
      const char byte = static_cast<char>(mode == LsnMode::kByteOffset ? 2 : 1);
      if (s.path == active_->path()) {
        if (absl::Status st = active_->WriteAt(9, absl::string_view(&byte, 1)); !st.ok()) {
          return Fail(st);
        }
        continue;
      }
      absl::StatusOr<std::unique_ptr<File>> f =
          options_.ops->Open(s.path, FileOps::OpenMode::kReadWrite);
      if (!f.ok()) return Fail(f.status());
      absl::Status st = (*f)->WriteAt(9, absl::string_view(&byte, 1));
      if (st.ok()) st = (*f)->Sync();
      if (st.ok()) st = (*f)->Close();
      if (!st.ok()) return Fail(st);
    }
  }
  if (absl::Status st = active_->Sync(); !st.ok()) return Fail(st);
  if (dir_dirty_) {
    if (absl::Status st = options_.ops->SyncDir(options_.dir); !st.ok()) return Fail(st);
    dir_dirty_ = false;
  }
  {
    absl::MutexLock lock(&mu_);
    for (SegmentInfo& seg : segments_) seg.durable_end = seg.end;
  }
  flushed_.store(written_.load());
  return absl::OkStatus();
}

absl::Status WriteAiondbIdentity(const std::string& data_dir, uint64_t system_id,
                                 uint32_t timeline) {
  const std::string dir = JoinPath(data_dir, "replication");
  RETURN_IF_ERROR(CreateDirDurably(dir));
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir, "system_id"), absl::StrCat(system_id)));
  return WriteFileAtomically(JoinPath(dir, "timeline"), absl::StrCat(timeline));
}

absl::Status WriteAiondbTimeline(const std::string& data_dir, uint32_t timeline) {
  const std::string dir = JoinPath(data_dir, "replication");
  RETURN_IF_ERROR(CreateDirDurably(dir));
  return WriteFileAtomically(JoinPath(dir, "timeline"), absl::StrCat(timeline));
}

}  // namespace walrep::aiondb
