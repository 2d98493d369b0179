#include "agent/grpc_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

// gRPC's watcher logs and retries a bad file instead of failing; checking the PEM markers
// at start-up turns an obviously wrong flag into a start-up error naming it.
absl::Status CheckPem(const std::string& flag, const std::string& path, absl::string_view marker) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!absl::StrContains(text, absl::StrCat("-----BEGIN ", marker))) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds no PEM ", marker, " block"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const AgentConfig& config, unsigned reload_interval_seconds) {
  if (config.grpc_tls_cert.empty()) return grpc::InsecureServerCredentials();
  if (auto st = CheckPem("--grpc_tls_cert", config.grpc_tls_cert, "CERTIFICATE"); !st.ok()) {
    return st;
  }
  if (auto st = CheckPem("--grpc_tls_key", config.grpc_tls_key, ""); !st.ok()) return st;
  const bool mtls = !config.grpc_client_ca.empty();
  if (mtls) {
    if (auto st = CheckPem("--grpc_client_ca", config.grpc_client_ca, "CERTIFICATE"); !st.ok()) {
      return st;
    }
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.grpc_tls_key, config.grpc_tls_cert, mtls ? config.grpc_client_ca : "",
      reload_interval_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mtls) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace walrep
