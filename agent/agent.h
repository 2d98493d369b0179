// The agent: one per node. Owns the data directory's identity and role, the replica
// stream, base backups and promotion, and answers every RPC's semantics; the gRPC layer
// (service.h) only translates. Thread-safe: RPCs arrive on gRPC's pool concurrently.
#ifndef WALREP_AGENT_AGENT_H_
#define WALREP_AGENT_AGENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/change_notifier.h"
#include "agent/config.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

class Agent {
 public:
  using CancelledFn = std::function<bool()>;
  using BackupSink = std::function<bool(const v1::FetchBaseBackupResponse&)>;

  // Opens (creating if needed) the data directory and resumes the persisted role.
  static absl::StatusOr<std::unique_ptr<Agent>> Open(const AgentConfig& config);
  ~Agent();

  v1::Progress GetProgress() const;
  absl::StatusOr<v1::Progress> StartReplica(const v1::StartReplicaRequest& request);
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
  explicit Agent(AgentConfig config) : config_(std::move(config)) {}

  AgentConfig config_;
  ChangeNotifier changes_;
  std::atomic<bool> shutting_down_{false};
  mutable absl::Mutex mu_;
  v1::Role role_ ABSL_GUARDED_BY(mu_) = v1::ROLE_UNSPECIFIED;
};

}  // namespace walrep

#endif  // WALREP_AGENT_AGENT_H_
