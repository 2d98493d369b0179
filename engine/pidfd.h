// Process handles that survive pid reuse (Linux pidfd, 5.3+): the supervisor waits for the
// server's exit by polling one, for its own child and for an adopted postmaster alike (a
// process that is not our child cannot be waited for with waitpid), and signals through
// one so a signal never reaches a process that merely inherited a dead server's pid.
// Free functions; thread-safe.
#ifndef WALREP_ENGINE_PIDFD_H_
#define WALREP_ENGINE_PIDFD_H_

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace walrep {

// A close-on-exec pidfd for `pid`; NotFound when no such process.
absl::StatusOr<int> PidfdOpen(pid_t pid);
// Sends `sig`; OK (nothing to do) when the process has exited already.
absl::Status PidfdSignal(int pidfd, int sig);
// Whether the process exited within `timeout` (zero: just look).
bool PidfdWaitExit(int pidfd, absl::Duration timeout);

}  // namespace walrep

#endif  // WALREP_ENGINE_PIDFD_H_
