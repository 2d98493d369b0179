// postmaster.pid, the lock file a running PostgreSQL keeps in its data directory, read to
// learn whether a server runs there and how far it is (its status line), and to decide
// whether a server found running after an agent restart is one walrep may adopt.
// Layout (PostgreSQL's pidfile.h), one value per line:
//   1 postmaster pid   2 data directory   3 start time (epoch s)   4 port
//   5 first socket directory   6 first listen address   7 shared memory key
//   8 status: "starting", "stopping", "ready", "standby" (space-padded)
// Lines 5-8 are absent while the server is still starting. Free functions; thread-safe.
#ifndef WALREP_ENGINE_POSTMASTER_PID_H_
#define WALREP_ENGINE_POSTMASTER_PID_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

struct PostmasterPid {
  pid_t pid = 0;
  std::string data_dir;
  int port = 0;
  std::string status;  // trimmed; "" when the line is not there yet
};

// Pure: InvalidArgument when the first line is not a positive pid.
absl::StatusOr<PostmasterPid> ParsePostmasterPid(absl::string_view contents);

// Reads <pgdata>/postmaster.pid; NotFound when no server holds the directory.
absl::StatusOr<PostmasterPid> ReadPostmasterPid(const std::string& pgdata);

// Whether `pid` is a live postgres started from <bindir>/postgres whose working directory
// (the postmaster chdirs into its data directory) is `pgdata`. A pid reused by another
// program after a crash is therefore not mistaken for the server.
bool IsPostmasterOf(pid_t pid, const std::string& bindir, const std::string& pgdata);

}  // namespace walrep

#endif  // WALREP_ENGINE_POSTMASTER_PID_H_
