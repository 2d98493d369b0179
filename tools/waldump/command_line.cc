#include "tools/waldump/command_line.h"

#include <cerrno>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace walrep::waldump {
namespace {

absl::StatusOr<TimelineId> ParseTimeline(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("empty --timeline");
  errno = 0;
  char* rest = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &rest, 0);
  if (errno != 0 || *rest != '\0' || text[0] == '-' || v < 1 || v > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeline must be in range 1..4294967295, not \"", text, "\""));
  }
  return static_cast<TimelineId>(v);
}

absl::StatusOr<Lsn> ParseLsnFlag(const char* flag, const std::string& text) {
  auto lsn = Lsn::Parse(text);
  if (!lsn.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid WAL location for ", flag, ": \"", text, "\""));
  }
  return *lsn;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      cl.paths.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h" || arg == "-?") {
      cl.help = true;
      continue;
    }
    if (arg == "--stats" || arg == "-z") {
      cl.dump.stats = true;
      continue;
    }
    if (absl::StartsWith(arg, "--stats=")) {
      const std::string v = arg.substr(8);
      if (v != "rmgr" && v != "record") {
        return absl::InvalidArgumentError(absl::StrCat("unrecognized value for --stats: ", v));
      }
      cl.dump.stats = true;
      cl.dump.stats_per_record = v == "record";
      continue;
    }
    // Options with a value: --name=value, --name value, -x value or -xvalue.
    std::string name, value;
    bool have_value = false;
    if (absl::StartsWith(arg, "--")) {
      const size_t eq = arg.find('=');
      name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        have_value = true;
      }
    } else {
      const char c = arg[1];
      name = c == 's' ? "start" : c == 'e' ? "end" : c == 't' ? "timeline" : arg;
      if (arg.size() > 2) {
        value = arg.substr(2);
        have_value = true;
      }
    }
    if (name != "start" && name != "end" && name != "timeline") {
      return absl::InvalidArgumentError(absl::StrCat("unknown option: ", arg));
    }
    if (!have_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("option ", arg, " needs a value"));
      }
      value = args[++i];
    }
    if (name == "timeline") {
      auto tli = ParseTimeline(value);
      if (!tli.ok()) return tli.status();
      cl.timeline = *tli;
    } else {
      auto lsn = ParseLsnFlag(name == "start" ? "--start" : "--end", value);
      if (!lsn.ok()) return lsn.status();
      (name == "start" ? cl.dump.start : cl.dump.end) = *lsn;
    }
  }
  if (!cl.help && cl.paths.empty()) {
    return absl::InvalidArgumentError("no WAL segment file or directory given");
  }
  return cl;
}

}  // namespace walrep::waldump
