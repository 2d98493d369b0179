// The gRPC face of the agent: walrep.v1.ReplicationAgent, mapping absl::Status codes to
// gRPC codes unchanged, enforcing the bearer token and the allowed client-certificate names
// when configured, auditing every mutating call (agent/audit.h) and keeping conninfo
// secrets out of every error it returns.
// Thread-safe: gRPC calls it from its own pool.
#ifndef WALREP_AGENT_SERVICE_H_
#define WALREP_AGENT_SERVICE_H_

#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/auth_token.h"
#include "walrep/v1/agent.grpc.pb.h"

namespace walrep {

class ReplicationAgentService final : public walrep::v1::ReplicationAgent::Service {
 public:
  // `auth_token` null means no token; `allowed_clients` empty means any client the TLS
  // layer accepted (ValidateConfig decides which combinations may serve where).
  ReplicationAgentService(Agent* agent, AuthTokenFile* auth_token,
                          std::vector<std::string> allowed_clients = {})
      : agent_(agent), auth_token_(auth_token), allowed_clients_(std::move(allowed_clients)) {}

  grpc::Status StartReplica(grpc::ServerContext* ctx, const v1::StartReplicaRequest* req,
                            v1::StartReplicaResponse* resp) override;
  grpc::Status StopReplica(grpc::ServerContext* ctx, const v1::StopReplicaRequest* req,
                           v1::StopReplicaResponse* resp) override;
  grpc::Status FetchBaseBackup(grpc::ServerContext* ctx, const v1::FetchBaseBackupRequest* req,
                               grpc::ServerWriter<v1::FetchBaseBackupResponse>* writer) override;
  grpc::Status Promote(grpc::ServerContext* ctx, const v1::PromoteRequest* req,
                       v1::PromoteResponse* resp) override;
  grpc::Status GetProgress(grpc::ServerContext* ctx, const v1::GetProgressRequest* req,
                           v1::GetProgressResponse* resp) override;
  grpc::Status WatchProgress(grpc::ServerContext* ctx, const v1::WatchProgressRequest* req,
                             grpc::ServerWriter<v1::WatchProgressResponse>* writer) override;

 private:
  grpc::Status CheckAuth(grpc::ServerContext* ctx) const;
  grpc::Status CheckClientName(grpc::ServerContext* ctx) const;

  Agent* agent_;
  AuthTokenFile* auth_token_;
  const std::vector<std::string> allowed_clients_;
};

// absl::Status → grpc::Status with the same code and message.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace walrep

#endif  // WALREP_AGENT_SERVICE_H_
