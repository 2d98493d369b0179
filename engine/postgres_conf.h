// walrep's configuration of the standby's data directory, layered over what the base
// backup copied from the primary and never editing it: an override file
// <pgdata>/walrep.conf with the settings walrep depends on (port, sockets, hot standby,
// no primary_conninfo or restore_command because walrep itself writes WAL into pg_wal, a
// short wal_retrieve_retry_interval so the startup process notices that WAL soon, walrep's
// own hba file), included by one line appended to postgresql.conf (last, so its values
// win over the copied ones), and standby.signal. The text builders are pure; Configure
// does the I/O. Grammar of the files: engine/README.md. Free functions; thread-safe.
#ifndef WALREP_ENGINE_POSTGRES_CONF_H_
#define WALREP_ENGINE_POSTGRES_CONF_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/postgres_options.h"

namespace walrep {

inline constexpr const char kWalrepConfName[] = "walrep.conf";
inline constexpr const char kWalrepHbaName[] = "walrep_hba.conf";
inline constexpr const char kIncludeLine[] = "include_if_exists = 'walrep.conf'";

// A postgresql.conf string literal: single quotes, embedded quotes doubled.
std::string QuoteConfValue(absl::string_view value);

// The standby's log_line_prefix: walrep reads the startup process's end-of-WAL lines by
// the pid in it (startup_log.h). In walrep.conf, and on the server's command line too, so
// that a copied postgresql.auto.conf cannot change it.
inline constexpr char kLogLinePrefix[] = "%m [%p] ";

// The contents of walrep.conf. `hba_path` is the absolute path of walrep's hba file.
std::string WalrepConfText(const PostgresOptions& options, const std::string& hba_path);

// walrep's hba file: trust on the Unix socket (walrep's private directory), then every
// line of the copied pg_hba.conf unchanged.
std::string WalrepHbaText(absl::string_view copied_hba);

// postgresql.conf with the include line appended, or nullopt when an active (not
// commented) include of walrep.conf is already there.
std::optional<std::string> WithIncludeLine(absl::string_view postgresql_conf);

// The settings of walrep.conf that `auto_conf` (a postgresql.auto.conf, which the server
// reads after every include) sets too, and so overrides: worth a warning.
std::vector<std::string> KeysOverriddenByAutoConf(absl::string_view auto_conf);

// Writes standby.signal when `standby` (removes it otherwise), walrep.conf, walrep's hba
// file and (once) the include line; each file durably, mode 0600, owned by pgdata's owner.
// Creates socket_dir (0700, owned by pgdata's owner). The data directory must exist and
// hold a PG_VERSION (InvalidArgument otherwise: it is no data directory).
absl::Status ConfigurePgdata(const PostgresOptions& options, bool standby);

// Whether <pgdata>/standby.signal exists: the server starts (or still is) a standby.
bool HasStandbySignal(const std::string& pgdata);

}  // namespace walrep

#endif  // WALREP_ENGINE_POSTGRES_CONF_H_
