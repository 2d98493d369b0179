// The libpq password file (~/.pgpass): lines of `hostname:port:database:username:password`
// where any of the first four may be `*`, `\:` and `\\` escape inside fields, and `#`
// starts a comment line. The first matching line wins. Matching is split from file access
// so the grammar is tested (and fuzzed) without touching disk.
//
// Thread-safety: free functions without shared state.
#ifndef WALREP_WIRE_PGPASS_H_
#define WALREP_WIRE_PGPASS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// What a password file entry is matched against. Empty host/port mean libpq's defaults
// ("localhost", "5432"), as for a connection over the default unix socket.
struct PgpassQuery {
  std::string host;
  std::string port;
  std::string dbname;
  std::string user;
};

// The password of the first line of `contents` that matches, de-escaped; nullopt if none
// does, or if dbname or user is empty (libpq does not look those up).
std::optional<std::string> MatchPgpass(absl::string_view contents,
                                       const PgpassQuery& query);

// Reads `path` and matches it. nullopt when the file does not exist or cannot be read;
// FailedPrecondition when it is not a regular file or is group/world accessible
// (mode & 077) — libpq prints a warning and ignores such a file, and callers should do
// the same with this status.
absl::StatusOr<std::optional<std::string>> LookupPgpass(const std::string& path,
                                                        const PgpassQuery& query);

}  // namespace walrep

#endif  // WALREP_WIRE_PGPASS_H_
