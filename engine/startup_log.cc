#include "engine/startup_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace walrep {

std::optional<EndOfWalLine> ParseEndOfWalLine(absl::string_view line) {
  // "%m" is a timestamp with a zone ("2026-12-07 22:40:01.123 UTC"): no '[' in it, so the
  // first '[' opens the pid.
  // The prefix's timestamp begins the line with its year: a line that begins otherwise
  // (a message's continuation, after its tab) is not a line of the server's own.
  if (line.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(line[0]))) {
    return std::nullopt;
  }
  const size_t open = line.find('[');
  if (open == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = line.substr(open + 1);
  const size_t close = rest.find("] ");
  if (close == absl::string_view::npos || close == 0 || close > 10 || rest[0] == '0') {
    return std::nullopt;  // a pid is printed without leading zeros
  }
  for (char c : rest.substr(0, close)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int pid = 0;
  if (!absl::SimpleAtoi(rest.substr(0, close), &pid) || pid <= 0) return std::nullopt;
  rest.remove_prefix(close + 2);
  if (!absl::ConsumePrefix(&rest, "LOG:  invalid record length at ")) return std::nullopt;
  const size_t colon = rest.find(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  absl::StatusOr<Lsn> at = Lsn::Parse(rest.substr(0, colon));
  if (!at.ok() || !at->valid()) return std::nullopt;
  return EndOfWalLine{pid, *at};
}

}  // namespace walrep
