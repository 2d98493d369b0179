// The standard process_* series Prometheus client libraries export (CPU time, resident
// memory, open and maximum file descriptors, start time), read from /proc/self on each
// scrape, plus walrep_build_info. Thread-safe (reads only).
#ifndef WALREP_AGENT_PROCESS_METRICS_H_
#define WALREP_AGENT_PROCESS_METRICS_H_

#include <string>

namespace walrep {

// The agent's version; bumped with each release.
inline constexpr const char* kWalrepVersion = "0.1.0";
// The source revision, set at build time with --copt=-DWALREP_REVISION=\"<sha>\".
const char* WalrepRevision();

// Appends process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds and walrep_build_info. A value /proc does
// not give is left out rather than reported as 0.
void RenderProcessMetrics(std::string* out);

}  // namespace walrep

#endif  // WALREP_AGENT_PROCESS_METRICS_H_
