#include "agent/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace walrep {

absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port) {
  absl::string_view h, p;
  if (absl::StartsWith(address, "[")) {
    size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed listen address \"", address, "\" (expected [v6addr]:port)"));
    }
    h = address.substr(1, close - 1);
    p = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed listen address \"", address, "\" (expected host:port)"));
    }
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
  }
  int port_value = 0;
  if (!absl::SimpleAtoi(p, &port_value) || port_value < 0 || port_value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in listen address \"", address, "\""));
  }
  *host = std::string(h);
  *port = port_value;
  return absl::OkStatus();
}

bool IsUnixListenAddress(absl::string_view address) {
  return absl::StartsWith(address, "unix:");
}

bool IsLoopbackListenAddress(absl::string_view address) {
  std::string host;
  int port;
  if (!SplitHostPort(address, &host, &port).ok()) return false;
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

absl::StatusOr<Engine> ParseEngine(absl::string_view name) {
  if (name == "none") return Engine::kNone;
  if (name == "postgres") return Engine::kPostgres;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --engine \"", name, "\" (expected none or postgres)"));
}

absl::Status ValidateConfig(AgentConfig* config) {
  if (config->data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir is required (the agent's state and WAL live there)");
  }
  if (config->data_dir[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return absl::InternalError("getcwd failed");
    config->data_dir = absl::StrCat(cwd, "/", config->data_dir);
  }
  std::string host;
  int port;
  absl::Status st;
  const bool unix_socket = IsUnixListenAddress(config->grpc_listen);
  if (unix_socket) {
    if (config->grpc_listen.size() <= 5 || config->grpc_listen[5] != '/') {
      return absl::InvalidArgumentError("--grpc_listen=unix: needs an absolute path (unix:/path)");
    }
  } else {
    st = SplitHostPort(config->grpc_listen, &host, &port);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("--grpc_listen: ", st.message()));
  }
  if (!config->metrics_listen.empty()) {
    st = SplitHostPort(config->metrics_listen, &host, &port);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("--metrics_listen: ", st.message()));
  }
  const bool tls = !config->grpc_tls_cert.empty() || !config->grpc_tls_key.empty();
  if (tls && (config->grpc_tls_cert.empty() || config->grpc_tls_key.empty())) {
    return absl::InvalidArgumentError("--grpc_tls_cert and --grpc_tls_key go together");
  }
  if (!config->grpc_client_ca.empty() && !tls) {
    return absl::InvalidArgumentError(
        "--grpc_client_ca needs --grpc_tls_cert and --grpc_tls_key (client certificates are "
        "checked in the TLS handshake)");
  }
  if (!config->grpc_allowed_clients.empty() && config->grpc_client_ca.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_allowed_clients needs --grpc_client_ca (names are read from verified client "
        "certificates)");
  }
  if (unix_socket && tls) {
    return absl::InvalidArgumentError(
        "--grpc_listen=unix: is protected by the socket's mode; --grpc_tls_* do not apply");
  }
  for (const std::string* file :
       {&config->grpc_tls_cert, &config->grpc_tls_key, &config->grpc_client_ca}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", *file));
    }
  }
  if (!unix_socket && !IsLoopbackListenAddress(config->grpc_listen)) {
    if (!tls) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to serve the control API on non-loopback address ", config->grpc_listen,
          " without TLS: the bearer token and StartReplica's password would cross the network "
          "in clear. Pass --grpc_tls_cert and --grpc_tls_key (and --grpc_client_ca for "
          "client certificates), or listen on 127.0.0.1 or unix:/path"));
    }
    if (config->auth_token_file.empty() && config->grpc_client_ca.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to serve the control API on non-loopback address ", config->grpc_listen,
          " without authentication: anyone who can reach it could promote this node. Pass "
          "--grpc_client_ca (client certificates) and/or --auth_token_file"));
    }
  }
  if (config->log_format != "text" && config->log_format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --log_format \"", config->log_format, "\" (expected text or json)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAuthToken(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file ", path, ": cannot stat"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file ", path, " is not a regular file"));
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_token_file ", path, " is accessible by group or others; chmod 0600 it"));
  }
  std::ifstream in(path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string trimmed(absl::StripAsciiWhitespace(token));
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file ", path, " is empty"));
  }
  return trimmed;
}

}  // namespace walrep
