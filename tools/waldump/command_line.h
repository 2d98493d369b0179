// walrep_waldump's command line:
//
//   walrep_waldump [--start=X/X] [--end=X/X] [--timeline=N] [--stats[=rmgr|record]]
//                  FILE_OR_DIR...
//
// pg_waldump's short forms (-s, -e, -t, -z) are accepted too, with the value in the same
// or the next argument. --timeline takes decimal or 0x-prefixed hex, as pg_waldump's -t.
// Pure; thread-safe.
#ifndef WALREP_TOOLS_WALDUMP_COMMAND_LINE_H_
#define WALREP_TOOLS_WALDUMP_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/waldump/dump.h"
#include "wire/lsn.h"

namespace walrep::waldump {

struct CommandLine {
  DumpOptions dump;
  std::optional<TimelineId> timeline;
  std::vector<std::string> paths;
  bool help = false;
};

inline constexpr const char* kUsage =
    "Usage: walrep_waldump [--start=X/X] [--end=X/X] [--timeline=N] [--stats[=rmgr|record]]"
    " FILE_OR_DIR...\n"
    "Decodes PostgreSQL WAL segment files and prints their records as pg_waldump does.\n";

// Parses argv[1..]; InvalidArgument with a message fit for the user on a bad argument.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

}  // namespace walrep::waldump

#endif  // WALREP_TOOLS_WALDUMP_COMMAND_LINE_H_
