#include "agent/agent.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/logging.h"

namespace walrep {

absl::StatusOr<std::unique_ptr<Agent>> Agent::Open(const AgentConfig& config) {
  if (mkdir(config.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data directory ", config.data_dir, ": ", strerror(errno)));
  }
  std::unique_ptr<Agent> agent(new Agent(config));
  ModuleLogger("agent")->info("data directory {}", config.data_dir);
  return agent;
}

Agent::~Agent() { Shutdown(); }

void Agent::Shutdown() {
  if (shutting_down_.exchange(true)) return;
  changes_.Notify();
}

bool Agent::healthy() const { return true; }

v1::Progress Agent::GetProgress() const {
  v1::Progress p;
  absl::MutexLock lock(&mu_);
  p.set_role(role_);
  p.set_stream_state(v1::STREAM_STATE_STOPPED);
  return p;
}

absl::StatusOr<v1::Progress> Agent::StartReplica(const v1::StartReplicaRequest&) {
  return absl::UnimplementedError("StartReplica is not available yet");
}

absl::StatusOr<v1::Progress> Agent::StopReplica() {
  return absl::UnimplementedError("StopReplica is not available yet");
}

absl::StatusOr<v1::PromoteResponse> Agent::Promote(const v1::PromoteRequest&) {
  return absl::UnimplementedError("Promote is not available yet");
}

absl::Status Agent::FetchBaseBackup(const v1::FetchBaseBackupRequest&, const CancelledFn&,
                                    const BackupSink&) {
  return absl::UnimplementedError("FetchBaseBackup is not available yet");
}

}  // namespace walrep
