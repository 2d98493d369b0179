// Terminal stream failures: an error that retrying cannot fix carries its
// v1::FailureReason as a Status payload, so the code that detects it (deep in a session)
// says so once, and the retry policy (ReplicaStream) reads it instead of guessing from
// codes or messages.
#ifndef WALREP_AGENT_STREAM_FAILURE_H_
#define WALREP_AGENT_STREAM_FAILURE_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

// `status` (not OK) marked terminal with `reason`.
absl::Status Terminal(v1::FailureReason reason, absl::Status status);
// The reason of a Terminal() status; nullopt for OK and retryable errors.
std::optional<v1::FailureReason> FailureReasonOf(const absl::Status& status);
// "WAL_REMOVED_ON_PRIMARY", ... (the enum's name without its prefix), for logs and metrics.
absl::string_view FailureReasonName(v1::FailureReason reason);

}  // namespace walrep

#endif  // WALREP_AGENT_STREAM_FAILURE_H_
