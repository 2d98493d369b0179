// spdlog set-up: one named logger per module ("agent", "stream", "backup", ...), text or
// JSON lines on stderr. Thread-safe after SetupLogging.
#ifndef WALREP_AGENT_LOGGING_H_
#define WALREP_AGENT_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace walrep {

// Configures the default sink and level. format: "text" | "json"; level: spdlog names
// (trace, debug, info, warn, error, critical, off).
absl::Status SetupLogging(const std::string& format, const std::string& level);

// The module's logger, created on first use with the configured sink and level.
std::shared_ptr<spdlog::logger> ModuleLogger(const std::string& module);

}  // namespace walrep

#endif  // WALREP_AGENT_LOGGING_H_
