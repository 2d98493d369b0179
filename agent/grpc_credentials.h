// Server credentials for the control API from the configuration: plaintext (loopback or a
// Unix socket only, enforced by ValidateConfig), TLS, or TLS requiring client
// certificates signed by --grpc_client_ca (mTLS). The certificate, key and CA files are
// watched by gRPC's FileWatcherCertificateProvider and reloaded when they change, so a
// cert-manager rotation needs no restart. Thread-compatible.
#ifndef WALREP_AGENT_GRPC_CREDENTIALS_H_
#define WALREP_AGENT_GRPC_CREDENTIALS_H_

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "agent/config.h"

namespace walrep {

// How often the TLS files are checked for changes.
inline constexpr unsigned kTlsReloadIntervalSeconds = 10;

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const AgentConfig& config, unsigned reload_interval_seconds = kTlsReloadIntervalSeconds);

}  // namespace walrep

#endif  // WALREP_AGENT_GRPC_CREDENTIALS_H_
