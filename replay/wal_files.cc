#include "replay/wal_files.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "replay/segment.h"
#include "replay/timeline_history.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<TimelineChain> LoadTimelineChain(const std::string& dir, TimelineId tli,
                                                FileOps* ops) {
  TimelineChain chain;
  if (tli <= 1) {
    chain.links.push_back({tli == 0 ? 1 : tli, Lsn()});
    return chain;
  }
  absl::StatusOr<std::string> content = ReadHistoryFile(dir, tli, ops);
  if (absl::IsNotFound(content.status())) {
    // Without its history only the timeline itself is known.
    chain.links.push_back({tli, Lsn()});
    return chain;
  }
  if (!content.ok()) return content.status();
  ASSIGN_OR_RETURN(std::vector<HistoryFileEntry> entries, ParseHistoryFileContent(*content));
  Lsn begin;
  for (const HistoryFileEntry& e : entries) {
    chain.links.push_back({e.tli, begin});
    begin = e.switchpoint;
  }
  chain.links.push_back({tli, begin});
  return chain;
}

absl::StatusOr<std::optional<uint64_t>> SegmentSizeOfFiles(const std::string& dir,
                                                           FileOps* ops) {
  absl::StatusOr<std::vector<std::string>> names = ops->ListDir(dir);
  if (absl::IsNotFound(names.status())) return std::optional<uint64_t>();
  if (!names.ok()) return names.status();
  std::optional<uint64_t> size;
  std::string first;
  for (const std::string& name : *names) {
    absl::string_view base = name;
    if (absl::EndsWith(base, ".partial")) base.remove_suffix(8);
    if (base.size() != 24 ||
        !std::all_of(base.begin(), base.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
      continue;
    }
    ASSIGN_OR_RETURN(uint64_t n, ops->FileSize(JoinPath(dir, name)));
    if (!size) {
      if (absl::Status valid = ValidateSegmentSize(n); !valid.ok()) {
        return absl::DataLossError(absl::StrCat("WAL file ", JoinPath(dir, name), " has ", n,
                                                " bytes, not a WAL segment size"));
      }
      size = n;
      first = name;
    } else if (n != *size) {
      return absl::DataLossError(absl::StrCat("WAL files of different sizes in ", dir, ": ",
                                              first, " has ", *size, " bytes, ", name, " ", n));
    }
  }
  return size;
}

absl::StatusOr<SegmentFile> FindSegmentFile(const std::string& dir, const TimelineChain& chain,
                                            uint64_t segno, uint64_t segment_size,
                                            FileOps* ops) {
  const uint64_t seg_end = (segno + 1) * segment_size;
  for (auto it = chain.links.rbegin(); it != chain.links.rend(); ++it) {
    if (it->begin.value() >= seg_end) continue;  // the timeline starts after this segment
    // ... and ends before it when a later link began before this segment started.
    if (it != chain.links.rbegin()) {
      Lsn next_begin = std::prev(it)->begin;
      if (next_begin.value() <= segno * segment_size) break;
    }
    for (bool partial : {false, true}) {
      std::string name = partial ? PartialSegmentFileName(it->tli, segno, segment_size)
                                 : SegmentFileName(it->tli, segno, segment_size);
      std::string path = JoinPath(dir, name);
      absl::StatusOr<uint64_t> size = ops->FileSize(path);
      if (absl::IsNotFound(size.status())) continue;
      if (!size.ok()) return size.status();
      if (*size != segment_size) continue;  // a zero-fill interrupted by a crash
      return SegmentFile{path, it->tli, partial};
    }
  }
  return absl::NotFoundError(absl::StrCat("no WAL file for segment ",
                                          SegmentFileName(chain.newest(), segno, segment_size),
                                          " in ", dir));
}

WalFileFeeder::WalFileFeeder(std::string dir, uint64_t segment_size, FileOps* ops,
                             const RecentWal* recent)
    : dir_(std::move(dir)), segment_size_(segment_size), ops_(ops), recent_(recent) {}

absl::StatusOr<size_t> WalFileFeeder::Pull(WalDecoder* decoder, Lsn limit, size_t max_bytes) {
  const uint64_t pos = decoder->input_lsn().value();
  if (pos >= limit.value()) return 0;
  const uint64_t segno = pos / segment_size_;
  const uint64_t seg_end = (segno + 1) * segment_size_;
  const uint64_t want = std::min<uint64_t>({max_bytes, limit.value() - pos, seg_end - pos});
  if (recent_ != nullptr) {
    // Fed without a copy; ring_view_ keeps the chunk until the next Pull.
    ring_view_ = recent_->ReadView(Lsn(pos), static_cast<size_t>(want), chain_.newest());
    if (!ring_view_.bytes.empty()) {
      // The writer's decoder verified these bytes before it took them.
      decoder->Feed(ring_view_.bytes, /*verified=*/true);
      return ring_view_.bytes.size();
    }
  }
  if (file_ == nullptr || file_segno_ != segno) {
    file_.reset();
    ASSIGN_OR_RETURN(current_, FindSegmentFile(dir_, chain_, segno, segment_size_, ops_));
    absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(current_.path, FileOps::OpenMode::kRead);
    if (absl::IsNotFound(f.status())) {
      // Renamed from .partial to its final name between the lookup and the open.
      ASSIGN_OR_RETURN(current_, FindSegmentFile(dir_, chain_, segno, segment_size_, ops_));
      f = ops_->Open(current_.path, FileOps::OpenMode::kRead);
    }
    if (!f.ok()) return f.status();
    file_ = std::move(*f);
    file_segno_ = segno;
    file_direct_ = false;
  }
  if (want >= kDirectReadMin && direct_ok_) {
    if (!file_direct_) {
      file_direct_ = file_->SetDirectIo(true).ok();
      direct_ok_ = file_direct_;
    }
    if (file_direct_) {
      absl::StatusOr<size_t> got = PullDirect(decoder, pos % segment_size_, want);
      if (got.ok()) return got;
      // A file system may accept the O_DIRECT flag and still refuse the request (EINVAL
      // for an alignment it needs larger), as the stage allows for its writes: the page
      // cache from now on. A real read error fails again below.
      direct_ok_ = false;
    }
  }
  if (file_direct_) {
    RETURN_IF_ERROR(file_->SetDirectIo(false));
    file_direct_ = false;
  }
  buf_.resize(want);
  ASSIGN_OR_RETURN(size_t got, file_->ReadAt(pos % segment_size_, want, buf_.data()));
  if (got == 0) {
    return absl::DataLossError(absl::StrCat(current_.path, " ends before ",
                                            Lsn(pos).ToString()));
  }
  buf_.resize(got);
  decoder->Feed(buf_);
  return got;
}

absl::StatusOr<size_t> WalFileFeeder::PullDirect(WalDecoder* decoder, uint64_t offset,
                                                  uint64_t want) {
  // Whole blocks around the wanted range; segment sizes are multiples of the alignment.
  const uint64_t from = AlignDown(offset);
  const uint64_t to = std::min<uint64_t>(AlignUp(offset + want), segment_size_);
  if (direct_buf_.size() < to - from) {
    direct_buf_ = AlignedBuffer(static_cast<size_t>(to - from));
    if (direct_buf_.data() == nullptr) return absl::ResourceExhaustedError("no memory to read WAL");
  }
  uint64_t got = 0;
  while (from + got < offset + want) {
    ASSIGN_OR_RETURN(size_t n, file_->ReadAt(from + got, static_cast<size_t>(to - from - got),
                                             direct_buf_.data() + got));
    if (n == 0) break;
    got += n;
    if (got % kDirectIoAlignment != 0) break;  // a short read ends at the end of the file
  }
  if (from + got <= offset) {
    return absl::DataLossError(absl::StrCat(current_.path, " ends before offset ", offset));
  }
  const uint64_t avail = std::min<uint64_t>(want, from + got - offset);
  decoder->Feed(absl::string_view(direct_buf_.data() + (offset - from), static_cast<size_t>(avail)));
  return static_cast<size_t>(avail);
}

}  // namespace walrep
