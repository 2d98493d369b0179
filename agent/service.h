// The gRPC face of the agent: walrep.v1.ReplicationAgent, mapping absl::Status codes to
// gRPC codes unchanged and enforcing the bearer token when one is configured.
// Thread-safe: gRPC calls it from its own pool.
#ifndef WALREP_AGENT_SERVICE_H_
#define WALREP_AGENT_SERVICE_H_

#include <string>

#include "agent/agent.h"
#include "walrep/v1/agent.grpc.pb.h"

namespace walrep {

class ReplicationAgentService final : public walrep::v1::ReplicationAgent::Service {
 public:
  // `auth_token` empty means no authentication (loopback-only, enforced at start-up).
  ReplicationAgentService(Agent* agent, std::string auth_token)
      : agent_(agent), auth_token_(std::move(auth_token)) {}

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

  Agent* agent_;
  std::string auth_token_;
};

// absl::Status → grpc::Status with the same code and message.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace walrep

#endif  // WALREP_AGENT_SERVICE_H_
