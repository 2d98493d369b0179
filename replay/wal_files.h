// Which file holds a given WAL segment in an archive directory with several timelines,
// and a reader that feeds WAL bytes from those files to a WalDecoder.
//
// A segment number can exist on several timelines: the segment where a timeline switch
// happened exists on the parent (up to the switch point) and on the child (which holds
// the parent's bytes before the switch point, then its own), as PostgreSQL lays them
// out. The file to read is that of the newest timeline of the chain whose history
// reaches into the segment, falling back to older ones when that file is absent — as
// PostgreSQL's XLogFileReadAnyTLI chooses. Thread-compatible; files are read through
// FileOps so fault injection reaches them.
#ifndef WALREP_REPLAY_WAL_FILES_H_
#define WALREP_REPLAY_WAL_FILES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replay/file_ops.h"
#include "replay/recent_wal.h"
#include "replay/wal_decoder.h"
#include "wire/lsn.h"

namespace walrep {

// The ancestry of a timeline: entry i is valid from `begin` up to the next entry's
// begin; the last entry is the timeline itself, open-ended.
struct TimelineChain {
  struct Link {
    TimelineId tli = 0;
    Lsn begin;  // the parent's switch point (0 for the first)
  };
  std::vector<Link> links;
  TimelineId newest() const { return links.empty() ? 0 : links.back().tli; }
};

// Reads "<dir>/<tli>.history" (absent for timeline 1) into a chain ending at `tli`.
// DataLoss when the history file is malformed.
absl::StatusOr<TimelineChain> LoadTimelineChain(const std::string& dir, TimelineId tli,
                                                FileOps* ops);

// The segment size of the WAL in `dir`, read off its files: every segment-named file
// (24 hex digits, with or without ".partial") is created at full size, so they all have
// it. nullopt when there is none (or no directory); DataLoss when their sizes differ or
// are not a valid wal_segment_size.
absl::StatusOr<std::optional<uint64_t>> SegmentSizeOfFiles(const std::string& dir,
                                                           FileOps* ops);

// A WAL file found for a segment.
struct SegmentFile {
  std::string path;
  TimelineId tli = 0;
  bool partial = false;  // ".partial": the segment was still being written
};

// The file to read for `segno`, or NotFound when no timeline of the chain has one.
absl::StatusOr<SegmentFile> FindSegmentFile(const std::string& dir, const TimelineChain& chain,
                                            uint64_t segno, uint64_t segment_size,
                                            FileOps* ops);

// Feeds a WalDecoder from the segment files of `dir`: every call to Pull() reads the next
// piece of WAL at the decoder's input position (never past `limit`) from the file chosen
// by FindSegmentFile and feeds it. Keeps the current file open (a rename from .partial
// to its final name does not disturb an open descriptor).
class WalFileFeeder {
 public:
  // With `recent` (the writer's RecentWal), WAL still held there is read from it, the
  // rest from the files.
  WalFileFeeder(std::string dir, uint64_t segment_size, FileOps* ops,
                const RecentWal* recent = nullptr);
  void set_chain(TimelineChain chain) {
    chain_ = std::move(chain);
    file_.reset();
  }
  const TimelineChain& chain() const { return chain_; }
  // Reads up to `max_bytes` at decoder->input_lsn() (not past `limit`) and feeds them.
  // Returns the number of bytes fed: 0 at `limit`. NotFound when the segment file is
  // missing; Internal on read errors.
  // A read of kDirectReadMin or more (a reader far behind: replay during a catch-up, the
  // recovery scan) bypasses the page cache with O_DIRECT: those bytes were written with
  // O_DIRECT while catching up (segment_stage.h) and are not in the cache, and reading
  // them through it would allocate cache pages only to copy out of them once.
  absl::StatusOr<size_t> Pull(WalDecoder* decoder, Lsn limit, size_t max_bytes = 1 << 20);
  static constexpr size_t kDirectReadMin = size_t{128} << 10;
  // The file the last Pull() read from (not changed by a read from `recent`).
  const SegmentFile& current() const { return current_; }

 private:
  // Pull()'s read of [offset, offset + want) of the open file with O_DIRECT.
  absl::StatusOr<size_t> PullDirect(WalDecoder* decoder, uint64_t offset, uint64_t want);

  const std::string dir_;
  const uint64_t segment_size_;
  FileOps* const ops_;
  const RecentWal* const recent_;
  RecentWal::View ring_view_;  // what the last read from recent_ fed
  TimelineChain chain_;
  std::unique_ptr<File> file_;
  uint64_t file_segno_ = 0;
  SegmentFile current_;
  std::string buf_;
  AlignedBuffer direct_buf_;
  bool file_direct_ = false;  // file_ is in O_DIRECT mode
  bool direct_ok_ = true;     // cleared when the file system refused it once
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_FILES_H_
