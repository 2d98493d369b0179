// What a validated ConnInfo asks of the socket and of TLS, read the way libpq reads each
// key: connect_timeout, keepalives*, tcp_user_timeout, and the ssl* keys. Part of
// wire:connection, public so tests can compare the result with libpq's.
//
// Pure functions of the ConnInfo (after ApplyDefaults and Validate); thread-safe.
#ifndef WALREP_WIRE_CONNECTION_SETTINGS_H_
#define WALREP_WIRE_CONNECTION_SETTINGS_H_

#include "absl/time/time.h"
#include "wire/conninfo.h"
#include "wire/socket_options.h"
#include "wire/tls.h"

namespace walrep {

// libpq's connect_timeout: whole seconds per address; 0 or negative means no limit
// (InfiniteDuration); 1 is raised to 2 (libpq: "rounding could cause connection to fail
// unexpectedly quickly"). `fallback` when the key is unset.
absl::Duration ConnectTimeoutOf(const ConnInfo& info, absl::Duration fallback);

// keepalives (on unless 0), keepalives_idle/_interval/_count and tcp_user_timeout, each
// unset unless given (the OS default then applies).
TcpOptions TcpOptionsOf(const ConnInfo& info);

// sslmode as given, sslrootcert, sslcert, sslkey, sslpassword, sslcrl, sslcrldir, sslsni
// (on unless its value does not start with '1'; default "1"), sslcompression (off when
// its value starts with '0'; default "0"), ssl_min_protocol_version (default TLSv1.2)
// and ssl_max_protocol_version — libpq's defaults and tests of each value.
TlsOptions TlsOptionsOf(const ConnInfo& info, SslMode sslmode);

}  // namespace walrep

#endif  // WALREP_WIRE_CONNECTION_SETTINGS_H_
