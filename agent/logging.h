// spdlog set-up: one named logger per module ("agent", "stream", "backup", ...), text or
// JSON lines on stderr. Thread-safe after SetupLogging.
#ifndef WALREP_AGENT_LOGGING_H_
#define WALREP_AGENT_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

// Debian's Abseil has its own string_view type; let log calls format it directly (status
// messages are absl::string_view).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace walrep {

// Configures the default sink and level. format: "text" | "json"; level: spdlog names
// (trace, debug, info, warn, error, critical, off).
absl::Status SetupLogging(const std::string& format, const std::string& level);

// The module's logger, created on first use with the configured sink and level.
std::shared_ptr<spdlog::logger> ModuleLogger(const std::string& module);

}  // namespace walrep

#endif  // WALREP_AGENT_LOGGING_H_
