// Reads, from one line of the standby's server log, where its startup process found the
// end of the WAL in pg_wal — the moment replay has applied every record before that point.
//
// Why: reading WAL from pg_wal (walrep writes it there; there is no walreceiver), the
// startup process of PostgreSQL 12-17 ends each pass at the first record it cannot read
// and, when that position is new, logs it at LOG (ReadRecord; a repeat is only DEBUG1).
// Past walrep's write position the segment holds zeros, so at the end of what walrep
// flushed the line is "invalid record length at X/X: wanted 24, got 0" (16 and later:
// "expected at least 24, got 0"). The redo loop applies each record before it asks for the
// next, so when the line is written the replay position (pg_last_wal_replay_lsn()) is X:
// the line tells walrep its apply position without a query, at the moment replay gets
// there.
//
// What the line must look like: walrep's log_line_prefix "%m [%p] " (postgres_conf.h), then
// "LOG:  invalid record length at X/X:". The pid lets the caller accept only the startup
// process's lines — a client can have any text logged at LOG (RAISE LOG), but under its
// own pid, and a newline in a message is followed by a tab in the log, so no line of a
// message can begin with a prefix. Other ways a pass can end are not taken (the position
// is then read by a query): a record cut short names its start, and a page header that is
// not there yet ("invalid magic number", "unexpected pageaddr") is complained about by the
// page-read callback itself, which the read-ahead of recovery_prefetch calls before the
// records in front of that page are replayed. "invalid record length" comes from the
// record decoder, whose error the reader hands out only once every record decoded before
// it has been returned for replay (XLogNextRecord), and is logged by ReadRecord.
// Messages translated by lc_messages are not recognised either (the same fallback).
//
// Pure; thread-compatible.
#ifndef WALREP_ENGINE_STARTUP_LOG_H_
#define WALREP_ENGINE_STARTUP_LOG_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "wire/lsn.h"

namespace walrep {

struct EndOfWalLine {
  int pid = 0;  // the process that logged it
  Lsn at;       // where the next record could not be read: the end of the last replayed
};

// The line without its newline. nullopt for every other line.
std::optional<EndOfWalLine> ParseEndOfWalLine(absl::string_view line);

}  // namespace walrep

#endif  // WALREP_ENGINE_STARTUP_LOG_H_
