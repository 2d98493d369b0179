// The daemon's configuration: what the command-line flags say, validated once at start-up.
// A value type; thread-compatible.
#ifndef WALREP_AGENT_CONFIG_H_
#define WALREP_AGENT_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class Engine { kNone, kPostgres };

struct AgentConfig {
  std::string data_dir;
  std::string grpc_listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9188";  // empty disables /metrics
  Engine engine = Engine::kNone;
  std::string auth_token_file;
  std::string log_format = "text";
  std::string log_level = "info";
};

// Checks a configuration and normalises data_dir to an absolute path. A non-loopback
// --grpc_listen without --auth_token_file is refused: the API can promote a database.
absl::Status ValidateConfig(AgentConfig* config);

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
