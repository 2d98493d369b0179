#include "tools/waldump/dump.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "replay/wal_decoder.h"
#include "tools/waldump/record_desc.h"
#include "tools/waldump/stats.h"

namespace walrep::waldump {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;
constexpr size_t kOutputFlush = size_t{1} << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Writes record lines in large blocks; a dump can be millions of lines.
class LineSink {
 public:
  explicit LineSink(std::FILE* out) : out_(out) {}
  ~LineSink() { Flush(); }
  void Add(const std::string& line) {
    buf_ += line;
    buf_ += '\n';
    if (buf_.size() >= kOutputFlush) Flush();
  }
  void Flush() {
    std::fwrite(buf_.data(), 1, buf_.size(), out_);
    buf_.clear();
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::string buf_;
};

// Feeds the segments' bytes, one chunk at a time, from the page holding `start` on.
class SegmentReader {
 public:
  SegmentReader(const std::vector<SegmentFile>& segments, size_t first, Lsn from,
                uint64_t segment_size)
      : segments_(segments),
        index_(first),
        segment_size_(segment_size),
        offset_(from.value() % segment_size),
        buf_(kReadChunk) {}

  // The next chunk; empty at the end of contiguous input, with `why` saying why.
  absl::Status Read(absl::string_view* chunk, std::string* why) {
    *chunk = absl::string_view();
    while (index_ < segments_.size()) {
      if (file_ == nullptr) {
        const SegmentFile& seg = segments_[index_];
        if (opened_any_ && seg.segno != expected_segno_) {
          *why = absl::StrCat("no segment file holds ",
                              Lsn(expected_segno_ * segment_size_).ToString());
          return absl::OkStatus();
        }
        file_.reset(std::fopen(seg.path.c_str(), "rb"));
        if (file_ == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat("cannot open ", seg.path));
        }
        if (offset_ != 0 && std::fseek(file_.get(), static_cast<long>(offset_), SEEK_SET) != 0) {
          return absl::DataLossError(absl::StrCat("cannot seek in ", seg.path));
        }
        file_pos_ = offset_;
        offset_ = 0;
        opened_any_ = true;
        expected_segno_ = seg.segno + 1;
      }
      const uint64_t left = segment_size_ - file_pos_;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf_.size()));
      const size_t n = want == 0 ? 0 : std::fread(buf_.data(), 1, want, file_.get());
      if (n > 0) {
        file_pos_ += n;
        *chunk = absl::string_view(buf_.data(), n);
        return absl::OkStatus();
      }
      if (std::ferror(file_.get())) {
        return absl::DataLossError(absl::StrCat("cannot read ", segments_[index_].path));
      }
      if (file_pos_ < segment_size_) {
        // A short file (a .partial cut before its end): nothing after it is contiguous.
        *why = absl::StrCat(segments_[index_].path, " ends at ",
                            Lsn(segments_[index_].segno * segment_size_ + file_pos_).ToString());
        index_ = segments_.size();
        return absl::OkStatus();
      }
      file_.reset();
      ++index_;
    }
    if (why->empty()) *why = "no more segment files";
    return absl::OkStatus();
  }

 private:
  const std::vector<SegmentFile>& segments_;
  size_t index_;
  const uint64_t segment_size_;
  uint64_t offset_;  // where to start in the first file
  uint64_t file_pos_ = 0;
  uint64_t expected_segno_ = 0;
  bool opened_any_ = false;
  File file_;
  std::vector<char> buf_;
};

uint64_t PageHeaderSize(uint64_t page, uint64_t segment_size) {
  return page % segment_size == 0 ? kLongPageHeaderSize : kShortPageHeaderSize;
}

}  // namespace

Lsn RecordDataEnd(Lsn at, uint64_t len, uint64_t segment_size) {
  uint64_t p = at.value();
  if (p % kWalPageSize == 0) p += PageHeaderSize(p, segment_size);
  for (;;) {
    const uint64_t page_end = p - p % kWalPageSize + kWalPageSize;
    if (len <= page_end - p) return Lsn(p + len);
    len -= page_end - p;
    p = page_end + PageHeaderSize(page_end, segment_size);
  }
}

absl::Status RunDump(const DumpOptions& options, const std::vector<SegmentFile>& segments,
                     uint64_t segment_size, std::FILE* out, std::FILE* info) {
  if (segments.empty()) return absl::InvalidArgumentError("no WAL segment files");
  const Lsn start = options.start.value_or(Lsn(segments.front().segno * segment_size));
  const uint64_t start_segno = start.value() / segment_size;
  size_t first = 0;
  while (first < segments.size() && segments[first].segno != start_segno) ++first;
  if (first == segments.size()) {
    return absl::InvalidArgumentError(absl::StrCat("start WAL location ", start.ToString(),
                                                   " is not inside any given segment file"));
  }
  const Lsn page(start.value() - start.value() % kWalPageSize);

  WalDecoder::Options dopts;
  dopts.segment_size = segment_size;
  dopts.retain = true;
  WalDecoder decoder(dopts);
  decoder.ResetAtPage(page);
  SegmentReader reader(segments, first, page, segment_size);

  LineSink lines(out);
  WalStats stats;
  uint64_t shown = 0;
  const std::optional<Lsn> end = options.end;
  // pg_waldump stops cleanly once the next record's header would need a byte at or
  // past `end`: it never reads that far.
  auto next_header_past_end = [&](Lsn next) {
    return end.has_value() && RecordDataEnd(next, kRecordHeaderSize, segment_size) > *end;
  };
  auto finish = [&](absl::Status status) {
    // As pg_waldump: a range without one whole record is an error, not an empty dump.
    if (status.ok() && shown == 0) {
      status = absl::DataLossError(
          absl::StrCat("could not find a valid record after ", start.ToString()));
    }
    lines.Flush();
    if (options.stats) {
      const std::string table = stats.Format(options.stats_per_record);
      std::fwrite(table.data(), 1, table.size(), out);
      std::fflush(out);
    }
    return status;
  };
  auto broken = [&](const std::string& why) {
    if (shown == 0) {
      return finish(absl::DataLossError(
          absl::StrCat("could not find a valid record after ", start.ToString(), ": ", why)));
    }
    return finish(absl::DataLossError(
        absl::StrCat("error in WAL record at ", decoder.last_start().ToString(), ": ", why)));
  };

  WalRecord record;
  std::string why_no_input;
  for (;;) {
    absl::string_view chunk;
    absl::Status st = reader.Read(&chunk, &why_no_input);
    if (!st.ok()) return finish(st);
    if (chunk.empty()) {
      if (end.has_value() &&
          (decoder.input_lsn() >= *end || next_header_past_end(decoder.last_end()))) {
        return finish(absl::OkStatus());
      }
      return broken(absl::StrCat("WAL input ends at ", decoder.input_lsn().ToString(), " (",
                                 why_no_input, ")"));
    }
    decoder.Feed(chunk);
    for (;;) {
      const WalDecoder::Result r = decoder.Next(&record);
      if (r == WalDecoder::Result::kNeedMore) break;
      if (r == WalDecoder::Result::kStop) {
        if (end.has_value() &&
            (decoder.stop_lsn() >= *end || next_header_past_end(decoder.last_end()))) {
          return finish(absl::OkStatus());
        }
        return broken(absl::StrCat(WalStopName(decoder.stop()), " at ",
                                   decoder.stop_lsn().ToString(), ": ", decoder.stop_message()));
      }
      if (record.lsn < start) continue;
      if (end.has_value() && RecordDataEnd(record.lsn, record.tot_len, segment_size) > *end) {
        return finish(absl::OkStatus());
      }
      if (shown == 0 && record.lsn != start && start.value() % segment_size != 0) {
        std::fprintf(info,
                     "walrep_waldump: first record is after %s, at %s, skipping over %llu bytes\n",
                     start.ToString().c_str(), record.lsn.ToString().c_str(),
                     static_cast<unsigned long long>(record.lsn - start));
      }
      ++shown;
      if (options.stats) {
        stats.Add(record);
      } else {
        lines.Add(FormatRecordLine(record));
      }
      if (next_header_past_end(record.end)) return finish(absl::OkStatus());
    }
  }
}

}  // namespace walrep::waldump
