// The daemon's configuration: what the command-line flags say, validated once at start-up.
// A value type; thread-compatible.
#ifndef WALREP_AGENT_CONFIG_H_
#define WALREP_AGENT_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class Engine { kNone, kPostgres };

struct AgentConfig {
  std::string data_dir;
  std::string grpc_listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9188";  // empty disables /metrics
  Engine engine = Engine::kNone;
  // --engine=postgres: the server binaries (default: the newest
  // /usr/lib/postgresql/*/bin), where it serves clients, and the OS user it runs as when
  // the agent runs as root (PostgreSQL refuses root).
  std::string pg_bindir;
  int pg_port = 5432;
  std::string pg_listen = "localhost";
  std::string pg_os_user;
  std::string auth_token_file;
  // gRPC over TLS: PEM certificate and key (watched and reloaded when they change).
  std::string grpc_tls_cert;
  std::string grpc_tls_key;
  // PEM CA bundle: when set, clients must present a certificate it signed (mTLS).
  std::string grpc_client_ca;
  // Client certificate subject CNs / DNS SANs allowed to call; empty allows any the CA
  // signed.
  std::vector<std::string> grpc_allowed_clients;
  std::string log_format = "text";
  std::string log_level = "info";
};

// Checks a configuration and normalises data_dir to an absolute path. The API can promote
// a database and carries passwords in StartReplica's conninfo, so a non-loopback
// --grpc_listen needs TLS (--grpc_tls_cert/--grpc_tls_key) and a way to authenticate
// callers (--auth_token_file or --grpc_client_ca); "unix:/path" is protected by the
// socket's mode (0600) instead.
absl::Status ValidateConfig(AgentConfig* config);

// True for "unix:/path" listen addresses.
bool IsUnixListenAddress(absl::string_view address);

// True for 127.0.0.0/8, ::1 and "localhost" listen addresses ("host:port" or "[v6]:port").
bool IsLoopbackListenAddress(absl::string_view address);

// Splits "host:port" / "[v6]:port"; InvalidArgument when malformed.
absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port);

absl::StatusOr<Engine> ParseEngine(absl::string_view name);

// Reads the bearer token from a file (surrounding whitespace stripped). The file must not be
// readable by group or others, like a .pgpass, since the token grants control of the node.
absl::StatusOr<std::string> ReadAuthToken(const std::string& path);

}  // namespace walrep

#endif  // WALREP_AGENT_CONFIG_H_
