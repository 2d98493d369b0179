// One pg_waldump (PostgreSQL 15) line per WAL record:
//
//   rmgr: Heap        len (rec/tot):     54/   238, tx:        731, lsn: 0/0151A2D0,
//   prev 0/0151A298, desc: INSERT , blkref #0: rel 1663/5/16384 blk 0 FPW
//
// (one line in reality). "rec" is the record without its full-page images, "tot" its
// xl_tot_len. After the record type pg_waldump prints the rmgr's own description of the
// main data; this tool prints none (the space before the block references stays, as
// pg_waldump prints it for a record with an empty description, e.g. FPI), then the block
// references in pg_waldump's short form.
//
// Pure functions; thread-safe.
#ifndef WALREP_TOOLS_WALDUMP_RECORD_DESC_H_
#define WALREP_TOOLS_WALDUMP_RECORD_DESC_H_

#include <string>

#include "replay/wal_decoder.h"

namespace walrep::waldump {

// pg_waldump's "%X/%08X".
std::string LsnText(Lsn lsn);

// The line for `record` (decoded in retain mode), without a newline.
std::string FormatRecordLine(const WalRecord& record);

// ", blkref #N: rel S/D/R[ fork F] blk B[ FPW| FPW for WAL verification]" per block.
std::string FormatBlockRefs(const WalRecord& record);

}  // namespace walrep::waldump

#endif  // WALREP_TOOLS_WALDUMP_RECORD_DESC_H_
