// FetchBaseBackup's engine: one BASE_BACKUP from a PostgreSQL 12+ primary into a local
// directory that PostgreSQL can start from — archives extracted while they stream
// (path-safe, bounded memory), the WAL from the backup's start streamed beside it over a
// second connection with a temporary slot (like `pg_basebackup -X stream`) up to its end
// (for a bootstrap, up to the primary's position once the backup ended), every
// file checked against backup_manifest, everything fsynced, then backup_manifest written
// last and the incomplete marker removed. The primary's identity is recorded under
// <data_dir>/replication/ when a store is given.
//
// Kept apart from Agent so that other callers (a bootstrap before streaming, with the
// target <data_dir>/pgdata) can run the same job.
//
// Thread-safety: RunBaseBackup blocks its calling thread and calls the context's callbacks
// from it; it starts and always joins one helper thread (the WAL stream). Concurrent runs
// must use different targets; the caller serializes runs that share a state store.
#ifndef WALREP_BACKUP_BACKUP_JOB_H_
#define WALREP_BACKUP_BACKUP_JOB_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backup/backup_target.h"
#include "replay/replication_state.h"
#include "walrep/v1/agent.pb.h"
#include "wire/connection.h"

namespace walrep {

struct BaseBackupContext {
  // Where the primary's system identifier and timeline are recorded; a different system
  // identifier already stored there refuses the backup (FailedPrecondition). May be null.
  ReplicationStateStore* state_store = nullptr;
  // The agent's data directory: targets overlapping its own files are refused. May be empty.
  std::string data_dir;
  // Polled every 20 ms by a watcher thread of the job (and between messages by the job's
  // own thread), so it must be thread-safe; true aborts with Cancelled within about that
  // long in every phase: the job's CancelToken ends any wait of its connections (the host
  // name lookup and the primary's checkpoint included), a running BASE_BACKUP or WAL
  // stream is cancelled on the primary (CancelRequest), and the fsync pass stops.
  std::function<bool()> cancelled;
  // Progress, at least once a second and at every phase change. Returning false (the
  // receiver went away) aborts like a cancellation.
  std::function<bool(const v1::BackupProgress&)> on_progress;
  ConnectionOptions connection_options;
  // A replica will stream on from the copy's WAL (StartReplica's bootstrap): the WAL
  // stream then goes past the backup's end to the primary's position once the backup
  // ended (past the XLOG_SWITCH after it), so that the copy's WAL ends in a segment the
  // primary still has. Otherwise it stops at the backup's end, as pg_basebackup -X stream.
  bool wal_to_primary_position = false;
};

// Runs the backup into `target_dir` (already resolved: the request's target_dir is
// ignored). Codes: bad request fields → InvalidArgument; non-empty target that is not an
// interrupted walrep backup, different system identifier → FailedPrecondition; primary
// unreachable, or silent for receiver_timeout once streaming → Unavailable;
// authentication → PermissionDenied; corrupt stream, manifest mismatch, checksum failure
// on the primary (XX001) → DataLoss; a hostile archive member → InvalidArgument; a
// tablespace the request gives no place (not in tablespace_mapping, and
// tablespaces_in_place off or its location unusable: relative, overlapping the target,
// reached through a symlink) → InvalidArgument naming the locations, before any archive
// byte is written; an in-place location that is not empty → FailedPrecondition; disk full
// → ResourceExhausted; cancelled → Cancelled. On any error the target keeps its
// incomplete marker.
absl::StatusOr<v1::BaseBackupResult> RunBaseBackup(const v1::FetchBaseBackupRequest& request,
                                                   const std::string& target_dir,
                                                   const BaseBackupContext& ctx);

}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_JOB_H_
