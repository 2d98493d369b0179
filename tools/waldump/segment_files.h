// Which WAL segment files walrep_waldump reads, and in what order: the command line names
// segment files (TTTTTTTTXXXXXXXXYYYYYYYY, optionally ".partial") and directories (all
// segment files in them). Per segment number one file is read: the given timeline's, or
// else the highest timeline's, since a segment of a newer timeline holds the older one's
// bytes up to the fork and the new timeline's after it. A complete file wins over a
// ".partial" of the same timeline.
//
// SelectSegments is pure; ListSegmentFiles and ReadSegmentSize read the file system.
// Thread-compatible.
#ifndef WALREP_TOOLS_WALDUMP_SEGMENT_FILES_H_
#define WALREP_TOOLS_WALDUMP_SEGMENT_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wire/lsn.h"

namespace walrep::waldump {

struct SegmentFile {
  std::string path;
  std::string name;  // base name
  TimelineId tli = 0;
  uint64_t segno = 0;  // filled in by SelectSegments
  bool partial = false;
};

struct SegmentList {
  std::vector<SegmentFile> files;  // name order (log id, segment, timeline)
  bool from_directory = false;     // at least one argument was a directory
};

// Expands `args` into segment files. A named file must have a segment file name; in a
// directory, other entries (history files, archive_status, temporaries) are skipped.
// InvalidArgument when an argument is neither, or when no segment file is found.
absl::StatusOr<SegmentList> ListSegmentFiles(const std::vector<std::string>& args);

// xlp_seg_size from the long page header at the start of the file at `path` (bytes
// 32..35, little-endian), validated as PostgreSQL's wal_segment_size. DataLoss when the
// file is too short or does not start with a long page header.
absl::StatusOr<uint64_t> ReadSegmentSize(const std::string& path);

// Parses each name's segment number for `segment_size`, keeps one file per segment
// number (see the header comment; only `timeline`'s files when given) and returns them in
// segment order. InvalidArgument when nothing is left.
absl::StatusOr<std::vector<SegmentFile>> SelectSegments(std::vector<SegmentFile> files,
                                                        uint64_t segment_size,
                                                        std::optional<TimelineId> timeline);

}  // namespace walrep::waldump

#endif  // WALREP_TOOLS_WALDUMP_SEGMENT_FILES_H_
