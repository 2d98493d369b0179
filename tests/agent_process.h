// Runs the walrep_agent binary as a child process for end-to-end tests, with its own data
// directory and free ports, and hands out gRPC stubs to it. Killed (SIGKILL) on
// destruction if still running. Not thread-safe.
#ifndef WALREP_TESTS_AGENT_PROCESS_H_
#define WALREP_TESTS_AGENT_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "walrep/v1/agent.grpc.pb.h"

namespace walrep::testing {

class AgentProcess {
 public:
  struct Options {
    std::string data_dir;  // required
    std::vector<std::string> extra_flags;
    std::string token;  // also sent by the stubs' contexts when set
    // Channel credentials of the stub (default plaintext), e.g. TLS for --grpc_tls_*.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    // Serve gRPC on unix:<path> instead of a TCP port.
    std::string unix_socket;
    // A command the agent is started through (it must exec the arguments that follow it,
    // so that pid() is the agent), e.g. unshare to give it a mount namespace of its own.
    std::vector<std::string> wrapper;
  };

  // Starts the agent and waits until GetProgress answers (any answer from the service,
  // including an authentication refusal, counts).
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(Options options);
  ~AgentProcess();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

  walrep::v1::ReplicationAgent::Stub* stub() { return stub_.get(); }
  // A stub over another channel to the same agent (other credentials).
  std::unique_ptr<walrep::v1::ReplicationAgent::Stub> NewStub(
      std::shared_ptr<grpc::ChannelCredentials> credentials) const;
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // A context with a deadline and, when configured, the bearer token.
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(10)) const;

  // Sends `sig` and waits up to `timeout` for exit; returns the exit status (as from
  // waitpid), or DeadlineExceeded.
  absl::StatusOr<int> Signal(int sig, absl::Duration timeout);
  void Kill();  // SIGKILL and reap

  // GETs a path from the metrics endpoint; returns the body.
  absl::StatusOr<std::string> HttpGet(const std::string& path) const;

 private:
  AgentProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string token_;
  std::string target_;
  std::string log_path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<walrep::v1::ReplicationAgent::Stub> stub_;
};

// Path of the agent binary in the test's runfiles.
std::string AgentBinaryPath();

// Runs the agent binary to completion with `args` (for start-up refusals); returns the
// exit status and combined output.
absl::StatusOr<std::pair<int, std::string>> RunAgentToExit(const std::vector<std::string>& args,
                                                          absl::Duration timeout);

}  // namespace walrep::testing

#endif  // WALREP_TESTS_AGENT_PROCESS_H_
