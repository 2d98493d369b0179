// Which PostgreSQL binaries the engine runs: the major version of a bindir's postgres
// (a physical standby must run the primary's major version) and the default bindir.
// Free functions; thread-safe.
#ifndef WALREP_ENGINE_POSTGRES_VERSION_H_
#define WALREP_ENGINE_POSTGRES_VERSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// Pure: the major version in `postgres --version` output, e.g.
// "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)" -> 15, "... 9.6.24" -> 9.
absl::StatusOr<int> ParsePostgresVersion(absl::string_view output);

// The major version (e.g. 15) of <bindir>/postgres, by running `postgres --version`.
absl::StatusOr<int> PostgresMajorVersion(const std::string& bindir);

// The newest /usr/lib/postgresql/<N>/bin that has a postgres binary ("" when none): the
// --pg_bindir default (Debian's layout). `root` is for tests.
std::string DefaultPostgresBindir(const std::string& root = "/usr/lib/postgresql");

}  // namespace walrep

#endif  // WALREP_ENGINE_POSTGRES_VERSION_H_
