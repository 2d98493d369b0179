// The audit trail of the control API: every mutating RPC (StartReplica, StopReplica,
// Promote, FetchBaseBackup) is logged once, at info on the "audit" logger, with who called
// (peer address; client certificate subject, or "token", or "none"), what was asked with
// secrets removed, and the outcome code. Also the redaction the trail and the replies rely
// on. Thread-safe (stateless).
#ifndef WALREP_AGENT_AUDIT_H_
#define WALREP_AGENT_AUDIT_H_

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

// A conninfo safe to log: ConnInfo::Redacted() when it parses, otherwise only its length
// (a malformed one may hold the password anywhere).
std::string RedactConnInfo(absl::string_view conninfo);

// Fragments of `conninfo` that are or may be a password (the URI's user-info password and
// password/sslpassword values, raw and percent-decoded), longest first. Used to scrub
// messages built by code that saw the raw text.
std::vector<std::string> SecretFragments(absl::string_view conninfo);

// `message` with every fragment from SecretFragments(conninfo) replaced by "********".
std::string ScrubSecrets(std::string message, absl::string_view conninfo);

// "ipv4:127.0.0.1:5000 as CN=ops,O=x" / "... as token" (a required token matched) /
// "... as none".
std::string DescribeCaller(const grpc::ServerContext& ctx, bool token_configured);

// One audit line. `request` is rendered in protobuf text form after redaction.
void AuditLog(absl::string_view rpc, const grpc::ServerContext& ctx, bool token_configured,
              const google::protobuf::Message& redacted_request, const grpc::Status& outcome);

v1::StartReplicaRequest Redacted(const v1::StartReplicaRequest& req);
v1::FetchBaseBackupRequest Redacted(const v1::FetchBaseBackupRequest& req);

}  // namespace walrep

#endif  // WALREP_AGENT_AUDIT_H_
