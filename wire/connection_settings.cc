#include "wire/connection_settings.h"

#include <algorithm>
#include <optional>
#include <string>

namespace walrep {
namespace {

std::optional<int> IntIfSet(const ConnInfo& info, absl::string_view keyword) {
  int v = 0;
  if (!info.IsSet(keyword) || !ParseLibpqInt(info.Get(keyword), &v)) return std::nullopt;
  return v;
}

// The value, or libpq's compiled-in default when the key is unset (an explicitly empty
// value stays empty, as in libpq).
std::string ValueOr(const ConnInfo& info, absl::string_view keyword, const char* fallback) {
  return info.IsSet(keyword) ? info.Get(keyword) : fallback;
}

}  // namespace

absl::Duration ConnectTimeoutOf(const ConnInfo& info, absl::Duration fallback) {
  std::optional<int> seconds = IntIfSet(info, "connect_timeout");
  if (!seconds.has_value()) return fallback;
  if (*seconds <= 0) return absl::InfiniteDuration();
  return absl::Seconds(std::max(*seconds, 2));
}

TcpOptions TcpOptionsOf(const ConnInfo& info) {
  TcpOptions o;
  std::optional<int> keepalives = IntIfSet(info, "keepalives");
  o.keepalives = !keepalives.has_value() || *keepalives != 0;
  o.keepalives_idle = IntIfSet(info, "keepalives_idle");
  o.keepalives_interval = IntIfSet(info, "keepalives_interval");
  o.keepalives_count = IntIfSet(info, "keepalives_count");
  o.user_timeout_ms = IntIfSet(info, "tcp_user_timeout");
  return o;
}

TlsOptions TlsOptionsOf(const ConnInfo& info, SslMode sslmode) {
  TlsOptions tls;
  tls.sslmode = sslmode;
  tls.root_cert = info.sslrootcert();
  tls.cert = info.sslcert();
  tls.key = info.sslkey();
  tls.key_password = info.Get("sslpassword");
  tls.crl_file = info.Get("sslcrl");
  tls.crl_dir = info.Get("sslcrldir");
  const std::string sni = ValueOr(info, "sslsni", "1");
  tls.sni = !sni.empty() && sni[0] == '1';
  const std::string compression = ValueOr(info, "sslcompression", "0");
  tls.compression = compression.empty() || compression[0] != '0';
  tls.min_protocol = ValueOr(info, "ssl_min_protocol_version", "TLSv1.2");
  tls.max_protocol = info.Get("ssl_max_protocol_version");
  return tls;
}

}  // namespace walrep
