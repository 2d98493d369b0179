// The agent: one per node. Owns the data directory's identity and role, the WAL writer,
// the replica stream, the apply tracker and promotion, and gives every RPC its meaning;
// the gRPC layer (service.h) only translates. Thread-safe: RPCs arrive concurrently on
// gRPC's pool; state-changing calls are serialized by `op_mu_`.
#ifndef WALREP_AGENT_AGENT_H_
#define WALREP_AGENT_AGENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/aiondb_replica.h"
#include "agent/change_notifier.h"
#include "wire/waker.h"
#include "agent/config.h"
#include "agent/postgres_engine.h"
#include "agent/replica_stream.h"
#include "agent/stream_status.h"
#include "replay/recent_wal.h"
#include "replay/replay_stats.h"
#include "replay/replication_state.h"
#include "replay/wal_replayer.h"
#include "replay/wal_writer.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

class Agent {
 public:
  using CancelledFn = std::function<bool()>;
  using BackupSink = std::function<bool(const v1::FetchBaseBackupResponse&)>;

  // Opens (creating if needed) the data directory and resumes the persisted role: a
  // replica resumes streaming from its durable flush position, a primary stays primary.
  static absl::StatusOr<std::unique_ptr<Agent>> Open(const AgentConfig& config);
  ~Agent();

  v1::Progress GetProgress() const;
  // `deadline` bounds how long the call waits for the primary's identity verdict.
  absl::StatusOr<v1::Progress> StartReplica(const v1::StartReplicaRequest& request,
                                            absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<v1::Progress> StopReplica();
  absl::StatusOr<v1::PromoteResponse> Promote(const v1::PromoteRequest& request);
  absl::Status FetchBaseBackup(const v1::FetchBaseBackupRequest& request,
                               const CancelledFn& cancelled, const BackupSink& sink);

  // Stops everything (stream with CopyDone + Terminate, apply tracker); idempotent.
  void Shutdown();
  bool shutting_down() const { return shutting_down_.load(); }
  // False after a sticky storage failure: health reports NOT_SERVING.
  bool healthy() const;
  // Notified on every observable change of GetProgress().
  const ChangeNotifier& changes() const { return changes_; }

 private:
  explicit Agent(AgentConfig config);
  absl::Status Init();
  // Positions the WAL store at the end of valid WAL found on disk.
  absl::Status RecoverWalStore();
  // Engine postgres (agent_postgres.cc).
  bool postgres() const { return config_.engine == Engine::kPostgres; }
  // Defaults and checks of the --pg_* flags; InvalidArgument naming the flag.
  static absl::Status ValidateEngineConfig(AgentConfig* config);
  PostgresOptions EngineOptions() const;
  std::string LocalUser() const;
  // As root: chown of each WAL file the store creates in the standby's pg_wal to
  // --pg_os_user (the server reads, recycles and removes them); nullptr otherwise.
  std::function<absl::Status(const std::string&)> GiveFilesToServer() const;
  // Gives the stream the engine's replay position, wake-ups, feedback and rewind, and has
  // its waits watch the server log (the stream thread then reads the log itself).
  void ConnectEngineToStream();
  // Starts (or adopts) the server once <data_dir>/pgdata holds a complete copy: a
  // standby for a replica, a primary after Promote.
  absl::Status StartEngineIfReady(ReplicationRole role);
  // Stops the standby, runs pg_rewind from `source`, recovers the WAL store from the
  // rewound pg_wal and starts the standby again (the stream thread, between sessions).
  absl::Status RewindEngine(const ConnInfo& source);
  // After Promote's shared checks (agent_promote.cc): engine postgres / engine none.
  // Each sets *committed before its first step that cannot be undone (the history file,
  // the server taking over pg_wal): a failure before it was a refusal that changed nothing.
  absl::StatusOr<v1::PromoteResponse> PromoteEngineLocked(const v1::PromoteRequest& request,
                                                          absl::Duration timeout, bool* committed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  absl::StatusOr<v1::PromoteResponse> PromoteArchiveLocked(const v1::PromoteRequest& request,
                                                           absl::Duration timeout, bool* committed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  absl::Status StartStreamLocked(const v1::StartReplicaRequest& request, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  void StopStreamLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  absl::Status PersistRole(ReplicationRole role);
  // Runs RunBaseBackup with the one-backup-at-a-time rule and GetProgress's view of it;
  // `for_replica`: a bootstrap (BaseBackupContext::wal_to_primary_position).
  absl::StatusOr<v1::BaseBackupResult> RunTrackedBackup(
      const v1::FetchBaseBackupRequest& request, const std::string& target,
      const std::function<bool()>& cancelled,
      const std::function<bool(const v1::BackupProgress&)>& on_progress,
      bool for_replica = false);
  // StartReplica's bootstrap: a base backup into <data_dir>/pgdata, whose WAL the WAL
  // store then adopts; the stream continues where that WAL ends (agent_backup.cc).
  enum class BootstrapStep {
    kNone,   // not asked for, or done (the state file holds a stream position)
    kCopy,   // no complete copy yet: take the base backup
    kAdopt,  // the copy is complete, its WAL not yet the store's
  };
  absl::StatusOr<BootstrapStep> NextBootstrapStep(const v1::StartReplicaRequest& request);
  absl::Status Bootstrap(const v1::StartReplicaRequest& request,
                         const std::function<bool()>& stopped);
  // Positions the WAL store from the WAL the backup's stream wrote into the copy's
  // pg_wal (engine none: copied into the archive first) and records that position in
  // the state file; `without_wal` is recorded instead when the copy holds no WAL.
  // `copied_now`: the copy was just taken (not found complete at start). On the stream
  // thread, before any session.
  absl::Status AdoptBootstrapWal(const ReplicationState& without_wal, bool copied_now);
  std::string StreamConfigPath() const;
  void SetIdentity(uint64_t system_id, TimelineId timeline);
  // The aiondb dialect (agent_aiondb.cc). Whether `request` streams from an aiondb
  // primary: its dialect field, the data directory's own dialect, and for AUTO in an
  // empty data directory the primary's server_version; FailedPrecondition when the data
  // directory holds the other dialect's WAL.
  absl::StatusOr<bool> ResolveAiondb(const v1::StartReplicaRequest& request,
                                     const StreamSettings& settings);
  // Creates the aiondb store and replay (once) and marks the data directory.
  absl::Status EnsureAiondb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  void FillAiondbProgress(v1::Progress* p) const;
  // FetchBaseBackup from an aiondb primary: its bare BASE_BACKUP into target_dir.
  absl::Status FetchAiondbBackup(const v1::FetchBaseBackupRequest& request,
                                 const CancelledFn& cancelled, const BackupSink& sink);
  // Whether a FetchBaseBackup request is for an aiondb primary (AUTO asks it).
  absl::StatusOr<bool> BackupIsAiondb(const v1::FetchBaseBackupRequest& request);

  const AgentConfig config_;
  ChangeNotifier changes_;
  // Fired by the engine when its apply position moves: the stream reports it at once.
  // Declared before the engine and the stream, which use it.
  Waker engine_apply_waker_;
  StreamStatus status_{&changes_};
  std::atomic<bool> shutting_down_{false};
  // StopReplica calls waiting for op_mu_: StartReplica's wait for the primary's identity
  // (which holds it) gives way to them.
  std::atomic<int> stops_waiting_{0};

  std::unique_ptr<ReplicationStateStore> state_store_;
  // The WAL store: the one owner of the durable position (recovered from the WAL at
  // start; see replay/wal_recovery.h).
  // Engine none: the newest WAL in memory, which replay reads back (before writer_ and
  // replayer_, which use it).
  std::unique_ptr<RecentWal> recent_wal_;
  std::unique_ptr<WalWriter> writer_;
  ReplayStats replay_stats_;
  std::unique_ptr<WalReplayer> replayer_;  // engine none only
  std::unique_ptr<PostgresEngine> engine_;  // engine postgres only
  // The aiondb dialect's store and replay, once this data directory follows an aiondb
  // primary (never reset; readers use the atomic pointer).
  std::unique_ptr<AiondbReplica> aiondb_;
  std::atomic<AiondbReplica*> aiondb_ptr_{nullptr};
  StreamContext stream_ctx_;

  absl::Mutex op_mu_;  // serializes StartReplica/StopReplica/Promote/Shutdown
  std::unique_ptr<ReplicaStream> stream_ ABSL_GUARDED_BY(op_mu_);
  v1::StartReplicaRequest stream_request_ ABSL_GUARDED_BY(op_mu_);

  mutable absl::Mutex mu_;  // what GetProgress reads
  v1::Role role_ ABSL_GUARDED_BY(mu_) = v1::ROLE_UNSPECIFIED;
  uint64_t system_id_ ABSL_GUARDED_BY(mu_) = 0;
  TimelineId timeline_ ABSL_GUARDED_BY(mu_) = 0;
  std::string primary_conninfo_ ABSL_GUARDED_BY(mu_);
  std::string slot_name_ ABSL_GUARDED_BY(mu_);

  // FetchBaseBackup: one at a time; its progress is mirrored into GetProgress().backup.
  std::atomic<bool> backup_running_{false};
  mutable absl::Mutex backup_mu_;
  std::optional<v1::BackupProgress> backup_progress_ ABSL_GUARDED_BY(backup_mu_);
};

// Checks a StartReplica request and turns it into stream settings: InvalidArgument for
// a malformed conninfo, slot name or status_interval.
absl::StatusOr<StreamSettings> ValidateStartReplica(const v1::StartReplicaRequest& request);

}  // namespace walrep

#endif  // WALREP_AGENT_AGENT_H_
