// One replication session against the primary: connect, IDENTIFY_SYSTEM with the identity
// checks and the primary's segment size, choose the start position, optionally create the
// slot, START_REPLICATION, then stream with the shared WalStreamLoop (wal_stream_loop.h),
// following timeline switches, until a stop request (clean: CopyDone, Terminate) or an
// error. Errors retrying cannot fix are marked Terminal (stream_failure.h); the retry
// policy around sessions lives in ReplicaStream. Runs on the stream thread only; not
// thread-safe.
#ifndef WALREP_AGENT_REPLICA_SESSION_H_
#define WALREP_AGENT_REPLICA_SESSION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/stream_status.h"
#include "agent/wal_stream_loop.h"
#include "replay/replication_state.h"
#include "replay/wal_replayer.h"
#include "replay/wal_writer.h"
#include "wire/connection.h"
#include "wire/waker.h"
#include "wire/conninfo.h"

namespace walrep {

// What StartReplica asked for, validated.
struct StreamSettings {
  ConnInfo conninfo;
  std::string slot_name;
  bool create_slot = false;
  absl::Duration status_interval = absl::Seconds(10);
  // Nothing received for this long ends the session (half of it: ask for a reply);
  // zero disables, as wal_receiver_timeout = 0.
  absl::Duration receiver_timeout = absl::Seconds(60);
  std::optional<uint64_t> expected_system_id;
  std::optional<TimelineId> expected_timeline;
  bool hot_standby_feedback = false;
  bool rewind_on_divergence = false;
};

// The storage and status a session works with; owned by the agent, outliving sessions.
struct StreamContext {
  WalWriter* writer = nullptr;
  ReplicationStateStore* state_store = nullptr;
  StreamStatus* status = nullptr;
  WalReplayer* replayer = nullptr;  // apply_lsn for status updates; woken after flushes
  // Engine postgres (replayer == nullptr): the server's replay position, a count of its
  // advances (each is reported at once: remote_apply waits on it), and a wake-up after
  // each flush so the position is read soon.
  std::function<Lsn()> engine_apply_lsn;
  std::function<uint64_t()> engine_apply_advances;
  std::function<void(Lsn flushed)> engine_wake;
  // Fired when the engine's apply position moves (see WalStreamOptions::apply_waker).
  const Waker* engine_apply_waker = nullptr;
  // Reads the server's log on the stream thread (WalStreamOptions::on_wake); set when the
  // waker also watches the log, so that its lines wake the stream.
  std::function<void()> engine_read_log;
  // The standby's oldest xmin and catalog xmin with their epochs, for hot standby
  // feedback (nullopt: not known yet).
  std::function<std::optional<HotStandbyFeedback>()> engine_feedback;
  // Rewinds the standby from the primary named by the conninfo (pg_rewind) after a
  // divergence, leaving the WAL store positioned at the rewound WAL's end; called on the
  // stream thread between sessions.
  std::function<absl::Status(const ConnInfo& source)> engine_rewind;
  std::string wal_dir;
  // The primary's system identifier and timeline as accepted by the identity checks.
  std::function<void(uint64_t system_id, TimelineId timeline)> on_identity;
};

class ReplicaSession {
 public:
  ReplicaSession(const StreamSettings& settings, StreamContext* ctx, const std::atomic<bool>* stop)
      : settings_(settings), ctx_(ctx), stop_(stop) {}

  // Watched while connecting (host name lookup, TCP and TLS handshakes, authentication),
  // so that a stop requested then (with the token fired) need not wait for the connect
  // timeout; the session then returns OK. Once connected, a stop ends the session the
  // usual way (flush, last status update, CopyDone). May be null; must outlive Run().
  void set_connect_cancel(const CancelToken* cancel) { connect_cancel_ = cancel; }

  // Runs the session to its end: OK after a requested stop, the error otherwise.
  // `identity_result` (optional) is called once with the outcome of the identity checks
  // (OK, or the FailedPrecondition/connection error that prevented them).
  absl::Status Run(const std::function<void(const absl::Status&)>& identity_result);

  // Whether this session received WAL.
  bool streamed() const { return streamed_; }
  // Whether the session ended because the primary shut down cleanly (not a failure).
  bool primary_shut_down() const { return primary_shut_down_; }

 private:
  absl::Status Identify(std::unique_ptr<PgConnection>& conn);
  absl::Status PositionWriter(PgConnection& conn, TimelineId server_tli, Lsn server_xlogpos);
  absl::Status EnsureSlot(PgConnection& conn);
  absl::Status FetchHistory(PgConnection& conn, TimelineId tli);
  // The primary is on a later timeline: when its history leaves ours below the WAL we
  // hold (a standby promoted from behind us), switch to the child timeline at the fork.
  absl::Status FollowForkBelowUs(PgConnection& conn, TimelineId server_tli);
  // START_REPLICATION from the segment start of the writer's position, then the shared
  // WalStreamLoop; loops over timeline switches until stop or error.
  absl::Status Stream(PgConnection& conn);
  WalStreamOptions LoopOptions();
  // What an error from START_REPLICATION or the stream after it means: WAL removed on the
  // primary and a missing slot are terminal (retrying cannot fix them); anything else is
  // returned as it is.
  absl::Status ClassifyStartError(const absl::Status& st, Lsn from);
  absl::Status SwitchTimeline(PgConnection& conn, TimelineId next_tli, Lsn switchpoint);
  // After a requested stop (the loop ended the COPY): records the position.
  absl::Status Stopped();

  const StreamSettings& settings_;
  StreamContext* ctx_;
  const std::atomic<bool>* stop_;
  const CancelToken* connect_cancel_ = nullptr;
  bool streamed_ = false;
  bool primary_shut_down_ = false;
  uint64_t system_id_ = 0;
  uint64_t feedback_seen_ = 0;  // WalReplayer::feedback_requests() last reported
};

}  // namespace walrep

#endif  // WALREP_AGENT_REPLICA_SESSION_H_
