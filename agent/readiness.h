// /readyz: whether this node does its job, for orchestrators' readiness probes (a
// Kubernetes Service sends reads only to ready replicas; CloudNativePG's "streaming"
// readiness). Ready is: storage healthy; the engine's server up (engine postgres); and a
// primary, or a replica that is streaming with an apply lag of at most `max_lag_bytes`
// (16 MiB unless the query sets it). Not ready answers 503 with a one-line reason.
// Pure; thread-safe.
#ifndef WALREP_AGENT_READINESS_H_
#define WALREP_AGENT_READINESS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "agent/http_server.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

inline constexpr uint64_t kDefaultMaxReadyLagBytes = uint64_t{16} << 20;

// `query` is the raw query string ("max_lag_bytes=N"); an invalid one is 400.
HttpResponse Readiness(const v1::Progress& progress, bool healthy, absl::string_view query);

}  // namespace walrep

#endif  // WALREP_AGENT_READINESS_H_
