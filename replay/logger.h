// The "replay" module's spdlog logger. Created on first use as a clone of the default
// logger (so sinks configured by main before first use apply), registered under the name
// "replay" so the daemon can adjust its level with spdlog::get("replay"). Thread-safe.
#ifndef WALREP_REPLAY_LOGGER_H_
#define WALREP_REPLAY_LOGGER_H_

#include <memory>

#include "spdlog/spdlog.h"

namespace walrep {

spdlog::logger& ReplayLogger();

}  // namespace walrep

#endif  // WALREP_REPLAY_LOGGER_H_
