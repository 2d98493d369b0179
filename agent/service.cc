#include "agent/service.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/audit.h"

namespace walrep {
namespace {

// Clients must not be able to pin a server thread in a busy loop with a tiny interval.
constexpr absl::Duration kMinWatchInterval = absl::Milliseconds(50);
// How often a watcher wakes without changes, to notice a cancelled call.
constexpr absl::Duration kWatchCancelCheck = absl::Milliseconds(500);

// The agent's errors about a conninfo may quote parts of it; whatever might be its
// password is masked before the message leaves the process.
grpc::Status Scrubbed(const grpc::Status& st, const std::string& conninfo) {
  if (st.ok()) return st;
  return grpc::Status(st.error_code(), ScrubSecrets(st.error_message(), conninfo));
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// The names a verified client certificate carries: its subject CN and DNS SANs.
grpc::Status ReplicationAgentService::CheckClientName(grpc::ServerContext* ctx) const {
  if (allowed_clients_.empty()) return grpc::Status::OK;
  auto auth = ctx->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
      for (const auto& v : auth->FindPropertyValues(property)) {
        std::string name(v.data(), v.size());
        if (std::find(allowed_clients_.begin(), allowed_clients_.end(), name) !=
            allowed_clients_.end()) {
          return grpc::Status::OK;
        }
      }
    }
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "client certificate names none of --grpc_allowed_clients");
}

grpc::Status ReplicationAgentService::CheckAuth(grpc::ServerContext* ctx) const {
  if (auto st = CheckClientName(ctx); !st.ok()) return st;
  if (auth_token_ == nullptr) return grpc::Status::OK;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing \"authorization: Bearer <token>\" metadata");
  }
  std::string expected = absl::StrCat("Bearer ", auth_token_->Current());
  const auto& got = it->second;
  // Constant-time compare so the token cannot be guessed byte by byte from timings.
  if (got.size() != expected.size() ||
      CRYPTO_memcmp(got.data(), expected.data(), expected.size()) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
  }
  return grpc::Status::OK;
}

grpc::Status ReplicationAgentService::StartReplica(grpc::ServerContext* ctx,
                                                   const v1::StartReplicaRequest* req,
                                                   v1::StartReplicaResponse* resp) {
  grpc::Status st = CheckAuth(ctx);
  if (st.ok()) {
    auto progress = agent_->StartReplica(*req);
    if (progress.ok()) {
      *resp->mutable_progress() = *progress;
    } else {
      st = ToGrpc(progress.status());
    }
  }
  st = Scrubbed(st, req->conninfo());
  AuditLog("StartReplica", *ctx, auth_token_ != nullptr, Redacted(*req), st);
  return st;
}

grpc::Status ReplicationAgentService::StopReplica(grpc::ServerContext* ctx,
                                                  const v1::StopReplicaRequest* req,
                                                  v1::StopReplicaResponse* resp) {
  grpc::Status st = CheckAuth(ctx);
  if (st.ok()) {
    auto progress = agent_->StopReplica();
    if (progress.ok()) {
      *resp->mutable_progress() = *progress;
    } else {
      st = ToGrpc(progress.status());
    }
  }
  AuditLog("StopReplica", *ctx, auth_token_ != nullptr, *req, st);
  return st;
}

grpc::Status ReplicationAgentService::FetchBaseBackup(
    grpc::ServerContext* ctx, const v1::FetchBaseBackupRequest* req,
    grpc::ServerWriter<v1::FetchBaseBackupResponse>* writer) {
  grpc::Status st = CheckAuth(ctx);
  if (st.ok()) {
    st = ToGrpc(agent_->FetchBaseBackup(
        *req, [ctx] { return ctx->IsCancelled(); },
        [writer](const v1::FetchBaseBackupResponse& msg) { return writer->Write(msg); }));
  }
  st = Scrubbed(st, req->conninfo());
  AuditLog("FetchBaseBackup", *ctx, auth_token_ != nullptr, Redacted(*req), st);
  return st;
}

grpc::Status ReplicationAgentService::Promote(grpc::ServerContext* ctx,
                                              const v1::PromoteRequest* req,
                                              v1::PromoteResponse* resp) {
  grpc::Status st = CheckAuth(ctx);
  if (st.ok()) {
    auto result = agent_->Promote(*req);
    if (result.ok()) {
      *resp = *result;
    } else {
      st = ToGrpc(result.status());
    }
  }
  AuditLog("Promote", *ctx, auth_token_ != nullptr, *req, st);
  return st;
}

grpc::Status ReplicationAgentService::GetProgress(grpc::ServerContext* ctx,
                                                  const v1::GetProgressRequest* req,
                                                  v1::GetProgressResponse* resp) {
  if (auto st = CheckAuth(ctx); !st.ok()) return st;
  *resp->mutable_progress() = agent_->GetProgress();
  return grpc::Status::OK;
}

grpc::Status ReplicationAgentService::WatchProgress(
    grpc::ServerContext* ctx, const v1::WatchProgressRequest* req,
    grpc::ServerWriter<v1::WatchProgressResponse>* writer) {
  if (auto st = CheckAuth(ctx); !st.ok()) return st;
  absl::Duration min_interval = absl::Seconds(req->min_interval().seconds()) +
                                absl::Nanoseconds(req->min_interval().nanos());
  if (min_interval < absl::ZeroDuration()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "min_interval must not be negative");
  }
  min_interval = std::max(min_interval, kMinWatchInterval);
  const ChangeNotifier& changes = agent_->changes();
  std::string last_sent;
  bool first = true;
  while (!ctx->IsCancelled() && !agent_->shutting_down()) {
    uint64_t gen = changes.generation();
    v1::WatchProgressResponse msg;
    *msg.mutable_progress() = agent_->GetProgress();
    std::string encoded = msg.SerializeAsString();
    if (first || encoded != last_sent) {
      if (!writer->Write(msg)) break;
      last_sent = std::move(encoded);
      first = false;
      // At most one message per min_interval; sliced so cancellation is noticed.
      absl::Time next = absl::Now() + min_interval;
      while (absl::Now() < next && !ctx->IsCancelled() && !agent_->shutting_down()) {
        absl::SleepFor(std::min(next - absl::Now(), absl::Milliseconds(100)));
      }
    }
    changes.WaitForChange(gen, absl::Now() + kWatchCancelCheck);
  }
  return grpc::Status::OK;
}

}  // namespace walrep
