// The walrep_waldump loop: reads segment files in LSN order through a WalDecoder and
// prints each record (or the statistics table) the way PostgreSQL 15's pg_waldump does,
// with pg_waldump's notion of where to begin and where to stop:
//
//  - start: decoding begins at the page holding `start` with the page's continuation
//    skipped, and the first record printed is the first one that starts at or after
//    `start` (pg_waldump's XLogFindNextRecord), so a segment start works as well as a
//    record start.
//  - end: pg_waldump never reads a byte at or past `end`, so a record is printed only if
//    its last byte lies below `end`, and reaching a record (or the next record's header)
//    that does not fit is a clean stop. Without `end`, decoding goes until the WAL stops
//    and that stop is reported as an error, as pg_waldump reports the end of WAL.
//
// Thread-compatible; performs file I/O and writes to the given streams.
#ifndef WALREP_TOOLS_WALDUMP_DUMP_H_
#define WALREP_TOOLS_WALDUMP_DUMP_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "tools/waldump/segment_files.h"
#include "wire/lsn.h"

namespace walrep::waldump {

struct DumpOptions {
  std::optional<Lsn> start;  // default: the first segment's start
  std::optional<Lsn> end;    // default: none (run to the end of WAL)
  bool stats = false;        // the table instead of one line per record
  bool stats_per_record = false;
};

// Dumps `segments` (segment order, as SelectSegments returns them). Records or the table
// go to `out`, pg_waldump's informational notes to `info`. OK when decoding stopped at
// `end`; otherwise the status says where and why the WAL ended or broke (InvalidArgument
// for a start outside the files, DataLoss for WAL that broke or ran out before `end`),
// after everything before that point was printed.
absl::Status RunDump(const DumpOptions& options, const std::vector<SegmentFile>& segments,
                     uint64_t segment_size, std::FILE* out, std::FILE* info);

// The position just past `len` bytes of record data written from `at`, stepping over
// the page headers in between (and over the header of the page `at` starts, if it is a
// page boundary): where pg_waldump must have read up to before it has those bytes.
Lsn RecordDataEnd(Lsn at, uint64_t len, uint64_t segment_size);

}  // namespace walrep::waldump

#endif  // WALREP_TOOLS_WALDUMP_DUMP_H_
