// How walrep runs its local PostgreSQL (engine "postgres"): where the binaries and the
// standby's data directory are, what it listens on, and as whom it runs. A plain value;
// filled from the agent's --pg_* flags.
#ifndef WALREP_ENGINE_POSTGRES_OPTIONS_H_
#define WALREP_ENGINE_POSTGRES_OPTIONS_H_

#include <string>

namespace walrep {

struct PostgresOptions {
  std::string bindir;                // holds postgres and pg_ctl (e.g. /usr/lib/postgresql/15/bin)
  std::string pgdata;                // the standby's data directory (a base backup of the primary)
  int port = 5432;                   // --pg_port
  std::string listen = "localhost";  // --pg_listen (listen_addresses)
  // --pg_os_user: when the agent runs as root, postgres runs as this user (root is
  // refused otherwise, with an error saying to set it).
  std::string os_user;
  // unix_socket_directories: a directory walrep owns (created 0700, owned by os_user), so
  // the hba file's "local all all trust" admits only root and os_user.
  std::string socket_dir;
  std::string log_path;    // postgres's stdout/stderr go here (appended)
  std::string local_user;  // the role of walrep's own local connection
};

}  // namespace walrep

#endif  // WALREP_ENGINE_POSTGRES_OPTIONS_H_
