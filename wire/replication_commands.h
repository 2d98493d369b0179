// Builders for the walsender's replication commands (sent as simple Query text on a
// `replication=true` connection). Pure functions; safe from any thread.
//
// Quoting. Slot names are validated to 1-63 bytes of [a-z0-9_] and then written as quoted
// identifiers ("name"), as pg_basebackup does, so a slot called e.g. `physical` is not
// read as a keyword. String literals ('...') double embedded single quotes. The
// replication grammar's scanner (repl_scanner.l) has no backslash escapes and no E''
// strings: a backslash is an ordinary character there. Rather than rely on that, labels
// containing a backslash, NUL or any other control character are rejected with
// InvalidArgument; that keeps a label unambiguous whatever scanner reads it and keeps
// backup_label (one "LABEL: ..." line) well formed.
#ifndef WALREP_WIRE_REPLICATION_COMMANDS_H_
#define WALREP_WIRE_REPLICATION_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "wire/lsn.h"

namespace walrep {

// Oldest server this agent speaks to.
inline constexpr int kMinServerVersionNum = 120000;
// MAX_RATE bounds in kB/s (PostgreSQL's MAX_RATE_LOWER / MAX_RATE_UPPER).
inline constexpr uint64_t kMinMaxRateKb = 32;
inline constexpr uint64_t kMaxMaxRateKb = 1048576;
// backup_label labels are limited to MAXPGPATH - 1 bytes.
inline constexpr size_t kMaxBackupLabel = 1023;

// OK for 1-63 bytes of [a-z0-9_]; InvalidArgument otherwise.
absl::Status ValidateSlotName(absl::string_view slot);
// 'text' with quotes doubled; InvalidArgument for NUL, other control characters and
// backslash (see above).
absl::StatusOr<std::string> QuoteLiteral(absl::string_view text);

std::string IdentifySystemCommand();
// InvalidArgument for timeline 0.
absl::StatusOr<std::string> TimelineHistoryCommand(TimelineId timeline);
// PostgreSQL 15+; the caller checks the version.
absl::StatusOr<std::string> ReadReplicationSlotCommand(absl::string_view slot);

struct CreatePhysicalSlotOptions {
  bool temporary = false;   // dropped when the session ends
  bool reserve_wal = true;  // reserve WAL from now on instead of from first use
};
// `CREATE_REPLICATION_SLOT "s" [TEMPORARY] PHYSICAL RESERVE_WAL`, or on 15+ the option
// list form `... PHYSICAL (RESERVE_WAL)`. FailedPrecondition below version 12.
absl::StatusOr<std::string> CreatePhysicalSlotCommand(absl::string_view slot,
                                                      const CreatePhysicalSlotOptions& options,
                                                      int server_version_num);
// `DROP_REPLICATION_SLOT "s" [WAIT]`.
absl::StatusOr<std::string> DropReplicationSlotCommand(absl::string_view slot, bool wait = false);

struct StartReplicationOptions {
  std::string slot;         // empty: no slot
  Lsn start;                // sent as X/X
  TimelineId timeline = 0;  // 0: omit TIMELINE (the server's current timeline)
};
// `START_REPLICATION [SLOT "s"] PHYSICAL X/X [TIMELINE t]`.
absl::StatusOr<std::string> StartPhysicalReplicationCommand(const StartReplicationOptions& options);

struct BaseBackupOptions {
  std::string label = "walrep base backup";
  bool progress = true;               // tablespace sizes up front, 'p' progress messages on 15+
  bool fast_checkpoint = false;       // CHECKPOINT 'fast' vs 'spread'
  bool wait_for_wal_archive = false;  // false: WAIT false / NOWAIT (WAL is streamed apart)
  bool include_wal = false;           // WAL: the server appends the needed WAL to the archive
  bool manifest = true;               // 13+; MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C'
  bool tablespace_map = true;
  bool verify_checksums = true;  // false: VERIFY_CHECKSUMS false / NOVERIFY_CHECKSUMS
  // Throttle in bytes per second; 0 = unlimited. PostgreSQL takes kB/s in 32..1048576:
  // the value is rounded down to whole kB (never faster than asked), a result below
  // 32 kB/s is InvalidArgument (it would silently be far faster than asked), and anything
  // above 1048576 kB/s (1 GiB/s) is clamped to that maximum.
  uint64_t max_rate_bytes_per_sec = 0;
  // 15+ server-side compression: COMPRESSION '<method>' ("gzip", "lz4" or "zstd"; empty
  // for none) and COMPRESSION_DETAIL 'level=N' when a level is given. FailedPrecondition
  // on 12-14, which cannot compress.
  std::string compression;
  std::optional<int> compression_level;
};
// 15+: `BASE_BACKUP ( LABEL 'x', PROGRESS, CHECKPOINT 'fast', WAIT false, ... )`;
// 12-14: `BASE_BACKUP LABEL 'x' PROGRESS FAST NOWAIT ...` (15 no longer parses this form,
// so the choice must follow the server version). FailedPrecondition below 12 or for a
// manifest on 12.
absl::StatusOr<std::string> BaseBackupCommand(const BaseBackupOptions& options,
                                              int server_version_num);

// The MAX_RATE argument in kB/s for a bytes/s rate (0 → 0 = unlimited); see above.
absl::StatusOr<uint64_t> MaxRateKb(uint64_t bytes_per_sec);

}  // namespace walrep

#endif  // WALREP_WIRE_REPLICATION_COMMANDS_H_
