// The replica stream: a thread running ReplicaSession after ReplicaSession, with
// exponential backoff between failed ones (Backoff), until stopped. A session error marked
// Terminal (stream_failure.h: WAL removed on the primary, divergence, a missing slot,
// another cluster, a storage failure in the WAL writer) is final: the stream goes to
// STREAM_STATE_FAILED with the reason and its thread ends; a new StartReplica starts
// again (a storage failure needs an agent restart, see WalWriter). Authentication and
// network errors are retried. Start/Stop/WaitForIdentity from RPC threads
// (serialized by the agent); the session runs on the stream's own thread.
#ifndef WALREP_AGENT_REPLICA_STREAM_H_
#define WALREP_AGENT_REPLICA_STREAM_H_

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/backoff.h"
#include "agent/dialect.h"
#include "agent/replica_session.h"
#include "wire/cancel_token.h"

namespace walrep {

class ReplicaStream {
 public:
  // Runs before the first session when set (StartReplica with bootstrap and no local
  // identity): takes the base backup. Called with a "stop requested" predicate; retried
  // with the same backoff as sessions until it succeeds or the stream is stopped.
  using Bootstrap = std::function<absl::Status(const std::function<bool()>& stopped)>;

  // `dialect` (not owned) runs the sessions; nullptr: PostgreSQL's over `ctx`.
  ReplicaStream(StreamSettings settings, StreamContext* ctx, Bootstrap bootstrap = nullptr,
                StreamDialect* dialect = nullptr);
  ~ReplicaStream() { Stop(); }

  void Start();
  // Requests a clean stop and joins the thread: a session still connecting is cut short
  // (its connect token fires), one that streams ends with CopyDone. Idempotent.
  void Stop();
  // Waits for the first session's identity checks: OK once they passed; their error if
  // they failed; DeadlineExceeded if no verdict within `timeout` (e.g. the primary is
  // unreachable and the stream is backing off).
  absl::Status WaitForIdentity(absl::Duration timeout);
  const StreamSettings& settings() const { return settings_; }
  // Whether the stream stopped for good (STREAM_STATE_FAILED): its thread has ended.
  bool failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }

 private:
  void Run();
  // Sleeps up to `d`, returning early on Stop().
  void SleepInterruptibly(absl::Duration d);

  StreamSettings settings_;
  StreamContext* ctx_;
  Bootstrap bootstrap_;
  std::unique_ptr<StreamDialect> own_dialect_;
  StreamDialect* dialect_;
  std::atomic<bool> stop_{false};
  // Fired by Stop(); a fresh one for each Start() (a token fires once).
  std::unique_ptr<CancelToken> connect_cancel_;
  std::thread thread_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::optional<absl::Status> identity_ ABSL_GUARDED_BY(mu_);
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace walrep

#endif  // WALREP_AGENT_REPLICA_STREAM_H_
