// Starting PostgreSQL's programs without a shell: fork/exec with an optional drop to an
// unprivileged OS user (postgres refuses to run as root), descriptors other than the three
// standard ones closed, the child in a session (and process group) of its own so that a
// Ctrl-C on the agent's terminal does not reach the server, and the signal mask and
// dispositions reset. Everything the child needs is prepared before fork(): between fork
// and exec only async-signal-safe calls are made (the agent is multi-threaded).
// Free functions; thread-safe.
#ifndef WALREP_ENGINE_SUBPROCESS_H_
#define WALREP_ENGINE_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace walrep {

// Who a child runs as. Resolved once (getpwnam + getgrouplist) in the parent.
struct RunAs {
  bool drop = false;  // false: the child keeps the agent's identity
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string name;
};

// The identity for `os_user`: when the agent runs as root, os_user is required and must
// not be root itself (InvalidArgument otherwise, saying so); when it does not, os_user must
// be empty or name the agent's own user (a non-root process cannot switch users).
absl::StatusOr<RunAs> ResolveRunAs(const std::string& os_user);

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program's absolute path
  RunAs run_as;
  int stdout_fd = -1;  // -1: /dev/null; the same descriptor also becomes stderr
};

// Starts the program; returns its pid once exec succeeded (an exec or identity failure in
// the child is reported here, with its errno).
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// Runs the program to completion (at most `timeout`, then SIGKILL) and returns what it
// wrote to stdout and stderr. A non-zero exit is an error carrying that output.
absl::StatusOr<std::string> RunProgram(const std::vector<std::string>& argv, const RunAs& run_as,
                                       absl::Duration timeout);

}  // namespace walrep

#endif  // WALREP_ENGINE_SUBPROCESS_H_
