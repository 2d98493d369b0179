// ConnInfo: the settings for one connection to a primary, written the way libpq users
// already write them — keyword/value strings (`host=db1 port=5432 user=rep`) or
// `postgresql://` URIs — so `primary_conninfo` values can be copied between
// PostgreSQL's own tools and walrep unchanged.
//
// The life of a ConnInfo has three explicit steps, mirroring where libpq does each thing:
//   1. Parse()          — syntax only, value-for-value what PQconninfoParse() reports
//                         (it accepts `sslmode=bogus`; libpq rejects that only when
//                         connecting, and so do we, in step 3).
//   2. ApplyDefaults()  — PG* environment variables, then built-in defaults, for keys the
//                         string did not set; the environment is passed in, so this is
//                         hermetic. ApplyPassfile() then consults .pgpass.
//   3. Validate()       — value checks libpq performs when connecting (sslmode, ports,
//                         integers, enumerations, TCP option ranges), and refusals by
//                         name of what walrep cannot do (a service file, GSSAPI
//                         encryption, direct SSL negotiation).
//
// The password is kept out of every accessor and rendering except password(), which
// exists for the authenticator alone: Redacted() is what gets logged and reported.
//
// Thread-safety: a plain value type; const methods may be called concurrently, anything
// else needs external synchronization.
#ifndef WALREP_WIRE_CONNINFO_H_
#define WALREP_WIRE_CONNINFO_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// The process environment as ApplyDefaults() sees it. Tests build one by hand;
// FromProcess() reads the real one.
struct Environment {
  std::map<std::string, std::string> vars;  // e.g. {"PGHOST", "db1"}
  std::string os_user;   // effective user's login name (libpq's pg_fe_getauthname)
  std::string home_dir;  // $HOME, else the passwd entry; empty if unknown

  static Environment FromProcess();
};

// One connection target after splitting libpq's comma-separated host/hostaddr/port lists.
struct Endpoint {
  std::string host;
  std::string hostaddr;
  int port = 5432;
  // libpq: a host beginning with '/' (and no hostaddr) is a Unix-socket directory.
  bool is_unix_socket() const { return hostaddr.empty() && !host.empty() && host[0] == '/'; }
};

// libpq's pqParseIntParam: a decimal int (strtol), whitespace allowed around it, nothing
// else. False for "" and for values that do not fit an int.
bool ParseLibpqInt(absl::string_view text, int* value);

class ConnInfo {
 public:
  // Every keyword walrep accepts, in libpq's canonical order (Redacted() uses it).
  static const std::vector<std::string>& Keywords();

  // Parses a keyword/value string or a postgresql:// / postgres:// URI exactly as
  // PQconninfoParse() does. InvalidArgument, naming the keyword where there is one, for
  // syntax errors, unknown keywords, keywords walrep deliberately does not support, and
  // embedded NUL bytes (libpq would silently truncate at them).
  static absl::StatusOr<ConnInfo> Parse(absl::string_view conninfo);

  // Fills keys that are unset with PG* variables from `env`, then with built-in
  // defaults for host, port, user, dbname and sslmode (see conninfo.cc for how these
  // differ from libpq's). Unimplemented if a service is named: walrep does not read
  // pg_service.conf.
  absl::Status ApplyDefaults(const Environment& env);

  // When no (or an empty) password was given, looks the first endpoint up in the
  // passfile (passfile=, else PGPASSFILE via ApplyDefaults, else $HOME/.pgpass).
  // OK whether or not a line matched; FailedPrecondition, with the password left unset,
  // when the file is refused for being group/world accessible or not a regular file —
  // callers log that as a warning and carry on, as libpq does.
  absl::Status ApplyPassfile(const Environment& env);

  // Checks values the way libpq does when it connects, so a conninfo that libpq would
  // refuse at connect time is refused here, before anything is stored or retried:
  // enumerations (sslmode, channel_binding, gssencmode, target_session_attrs,
  // load_balance_hosts, sslnegotiation), ssl_min/max_protocol_version and their range,
  // connect_timeout, ports and host lists, and — when some host is reached over TCP — the
  // keepalives* and tcp_user_timeout integers, including the ranges Linux's setsockopt
  // accepts (libpq passes keepalives_idle=0 to TCP_KEEPIDLE and fails; so does this).
  // Also refuses, by name, what walrep cannot do: service= (no pg_service.conf),
  // gssencmode=require (no GSSAPI), sslnegotiation=direct. All InvalidArgument.
  absl::Status Validate() const;

  // The hosts to try, in order, with their ports. Requires Validate() to pass.
  absl::StatusOr<std::vector<Endpoint>> Endpoints() const;

  // True if `keyword` has a value (possibly empty) — set explicitly or by defaults.
  bool IsSet(absl::string_view keyword) const;
  // The value of `keyword`, or "" when unset. Never the password: Get("password")
  // always returns "".
  std::string Get(absl::string_view keyword) const;
  // Keywords with a value, in canonical order (includes "password" if one is set).
  std::vector<std::string> SetKeywords() const;
  // Sets a value directly (validated later by Validate()); InvalidArgument for unknown
  // keywords or NUL bytes.
  absl::Status Set(absl::string_view keyword, absl::string_view value);

  const std::string& host() const { return Ref("host"); }
  const std::string& hostaddr() const { return Ref("hostaddr"); }
  const std::string& port() const { return Ref("port"); }
  const std::string& user() const { return Ref("user"); }
  const std::string& dbname() const { return Ref("dbname"); }
  const std::string& application_name() const { return Ref("application_name"); }
  const std::string& sslmode() const { return Ref("sslmode"); }
  const std::string& sslrootcert() const { return Ref("sslrootcert"); }
  const std::string& sslcert() const { return Ref("sslcert"); }
  const std::string& sslkey() const { return Ref("sslkey"); }
  const std::string& connect_timeout() const { return Ref("connect_timeout"); }
  const std::string& passfile() const { return Ref("passfile"); }
  const std::string& replication() const { return Ref("replication"); }

  bool has_password() const { return password_.has_value(); }
  // For the authenticator only. Empty when none is set.
  const std::string& password() const;

  // A keyword/value rendering of every set keyword, in canonical order, that Parse()
  // reads back to the same values; the password (and sslpassword) appear only as
  // `password=********`. Safe to log and to report.
  std::string Redacted() const;
  std::string ToString() const { return Redacted(); }

 private:
  const std::string& Ref(absl::string_view keyword) const;
  absl::Status Store(absl::string_view keyword, absl::string_view value);

  std::map<std::string, std::string, std::less<>> values_;  // never holds the password
  std::optional<std::string> password_;
};

}  // namespace walrep

#endif  // WALREP_WIRE_CONNINFO_H_
