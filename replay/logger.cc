#include "replay/logger.h"

namespace walrep {

spdlog::logger& ReplayLogger() {
  // Function-local static: initialised once even with concurrent first calls.
  static std::shared_ptr<spdlog::logger> const logger = [] {
    std::shared_ptr<spdlog::logger> existing = spdlog::get("replay");
    if (existing) return existing;
    std::shared_ptr<spdlog::logger> l = spdlog::default_logger()->clone("replay");
    spdlog::register_logger(l);
    return l;
  }();
  return *logger;
}

}  // namespace walrep
