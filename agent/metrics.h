// Renders the agent's Progress as Prometheus text exposition (format 0.0.4): counters end
// in _total (and nothing else does), positions and sizes in bytes, times in seconds; then
// the process-wide latency histograms (agent/latency_histograms.h) and the process_* and
// build-info series (agent/process_metrics.h). Thread-safe; the output passes
// `promtool check metrics`.
#ifndef WALREP_AGENT_METRICS_H_
#define WALREP_AGENT_METRICS_H_

#include <string>

#include "walrep/v1/agent.pb.h"

namespace walrep {

std::string RenderPrometheus(const walrep::v1::Progress& progress);

}  // namespace walrep

#endif  // WALREP_AGENT_METRICS_H_
