// ConnInfo::Validate and ConnInfo::Endpoints: the value checks libpq makes in
// connectOptions2() and while connecting (messages are libpq's where it has one).
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <initializer_list>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/conninfo.h"
#include "wire/conninfo_syntax.h"
#include "wire/socket_options.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

using conninfo_internal::Invalid;
using conninfo_internal::IsSpace;
using conninfo_internal::Quote;

absl::Status CheckOneOf(const ConnInfo& info, absl::string_view keyword,
                        std::initializer_list<absl::string_view> allowed) {
  if (!info.IsSet(keyword)) return absl::OkStatus();
  std::string value = info.Get(keyword);
  for (absl::string_view a : allowed) {
    if (value == a) return absl::OkStatus();
  }
  return Invalid(absl::StrCat("invalid ", keyword, " value: \"", value, "\""));
}

// An integer option if set: libpq's "invalid integer value" for anything else.
absl::StatusOr<std::optional<int>> IntOption(const ConnInfo& info, absl::string_view keyword) {
  if (!info.IsSet(keyword)) return std::nullopt;
  int v = 0;
  if (!ParseLibpqInt(info.Get(keyword), &v)) {
    return Invalid(absl::StrCat("invalid integer value \"", info.Get(keyword),
                                "\" for connection option ", Quote(keyword)));
  }
  return v;
}

// libpq hands these to setsockopt with negatives raised to 0; Linux then refuses anything
// outside [1, max] with EINVAL and libpq fails the connection. Refusing it here says why
// before any connection is tried.
absl::Status CheckKeepaliveRange(const ConnInfo& info, absl::string_view keyword,
                                 const char* sockopt, int max) {
  ASSIGN_OR_RETURN(std::optional<int> v, IntOption(info, keyword));
  if (!v.has_value()) return absl::OkStatus();
  const int passed = std::max(*v, 0);
  if (passed >= 1 && passed <= max) return absl::OkStatus();
  return Invalid(absl::StrCat("invalid ", keyword, " value: \"", info.Get(keyword),
                              "\": setsockopt(", sockopt, ") accepts 1 to ", max,
                              " on Linux, and libpq passes the value through and fails ",
                              "to connect; leave ", keyword, " unset for the system default"));
}

// libpq's sslVerifyProtocolVersion.
bool IsProtocolVersion(absl::string_view v) {
  return v.empty() || absl::EqualsIgnoreCase(v, "TLSv1") || absl::EqualsIgnoreCase(v, "TLSv1.1") ||
         absl::EqualsIgnoreCase(v, "TLSv1.2") || absl::EqualsIgnoreCase(v, "TLSv1.3");
}

// libpq's sslVerifyProtocolRange (both already valid names).
bool IsProtocolRange(const std::string& min, const std::string& max) {
  if (min.empty() || max.empty() || absl::EqualsIgnoreCase(min, "TLSv1")) return true;
  if (absl::EqualsIgnoreCase(max, "TLSv1")) return false;
  // TLSv1.1 .. TLSv1.3: compare as libpq does, case-insensitively.
  return absl::AsciiStrToLower(min) <= absl::AsciiStrToLower(max);
}

absl::Status CheckTls(const ConnInfo& info) {
  for (const char* keyword : {"ssl_min_protocol_version", "ssl_max_protocol_version"}) {
    if (!IsProtocolVersion(info.Get(keyword))) {
      return Invalid(absl::StrCat("invalid ", keyword, " value: \"", info.Get(keyword), "\""));
    }
  }
  if (!IsProtocolRange(info.Get("ssl_min_protocol_version"),
                       info.Get("ssl_max_protocol_version"))) {
    return Invalid("invalid SSL protocol version range");
  }
  // libpq 16: the system's roots only with host name checking. With sslmode unset the
  // default becomes verify-full (ApplyDefaults), so only an explicit weak mode is wrong.
  if (info.sslrootcert() == "system" && info.IsSet("sslmode") && info.sslmode() != "verify-full") {
    return Invalid(
        absl::StrCat("weak sslmode \"", info.sslmode(),
                     "\" may not be used with sslrootcert=system (use \"verify-full\")"));
  }
  RETURN_IF_ERROR(CheckOneOf(info, "sslnegotiation", {"postgres", "direct"}));
  if (info.Get("sslnegotiation") == "direct") {
    return Invalid(
        "sslnegotiation=direct: walrep always negotiates TLS with an SSLRequest (PostgreSQL "
        "17's direct TLS handshake is not implemented)");
  }
  return absl::OkStatus();
}

// keepalives* and tcp_user_timeout, as libpq reads them for a TCP socket: keepalives
// first, and the other keepalive settings only while keepalives are on. walrep applies
// tcp_user_timeout even with keepalives=0 (socket_options.h), so it is always checked.
absl::Status CheckTcpOptions(const ConnInfo& info) {
  ASSIGN_OR_RETURN(std::optional<int> keepalives, IntOption(info, "keepalives"));
  if (!keepalives.has_value() || *keepalives != 0) {
    RETURN_IF_ERROR(CheckKeepaliveRange(info, "keepalives_idle", "TCP_KEEPIDLE", kMaxTcpKeepIdle));
    RETURN_IF_ERROR(
        CheckKeepaliveRange(info, "keepalives_interval", "TCP_KEEPINTVL", kMaxTcpKeepIntvl));
    RETURN_IF_ERROR(CheckKeepaliveRange(info, "keepalives_count", "TCP_KEEPCNT", kMaxTcpKeepCnt));
  }
  return IntOption(info, "tcp_user_timeout").status();
}

// Splits a comma-separated libpq list; an unset or empty value is one empty element.
std::vector<std::string> SplitList(const std::string& value) { return absl::StrSplit(value, ','); }

}  // namespace

bool ParseLibpqInt(absl::string_view text, int* result) {
  const std::string value(text);
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || errno != 0 || v < INT_MIN || v > INT_MAX) return false;
  while (*end != '\0' && IsSpace(*end)) ++end;
  if (*end != '\0') return false;
  *result = static_cast<int>(v);
  return true;
}

absl::Status ConnInfo::Validate() const {
  if (IsSet("service")) {
    return Invalid(absl::StrCat(
        "connection service \"", Get("service"),
        "\" requested, but walrep does not read pg_service.conf; spell the settings out"));
  }
  RETURN_IF_ERROR(CheckOneOf(
      *this, "sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "channel_binding", {"disable", "prefer", "require"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "gssencmode", {"disable", "prefer", "require"}));
  if (Get("gssencmode") == "require") {
    // libpq built without GSSAPI refuses it the same way; prefer just goes without.
    return Invalid("gssencmode=require: walrep is built without GSSAPI");
  }
  RETURN_IF_ERROR(
      CheckOneOf(*this, "target_session_attrs",
                 {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "load_balance_hosts", {"disable", "random"}));
  RETURN_IF_ERROR(CheckTls(*this));
  RETURN_IF_ERROR(IntOption(*this, "connect_timeout").status());
  ASSIGN_OR_RETURN(std::vector<Endpoint> endpoints, Endpoints());
  // libpq never looks at the TCP settings for a Unix socket.
  if (std::any_of(endpoints.begin(), endpoints.end(),
                  [](const Endpoint& e) { return !e.is_unix_socket(); })) {
    RETURN_IF_ERROR(CheckTcpOptions(*this));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Endpoint>> ConnInfo::Endpoints() const {
  std::vector<std::string> hosts = SplitList(host());
  std::vector<std::string> addrs = SplitList(hostaddr());
  std::vector<std::string> ports = SplitList(port());
  size_t n = std::max(hosts.size(), addrs.size());
  if (IsSet("host") && IsSet("hostaddr") && hosts.size() != addrs.size()) {
    return Invalid(absl::StrCat("could not match ", hosts.size(), " host names to ", addrs.size(),
                                " hostaddr values"));
  }
  if (ports.size() != 1 && ports.size() != n) {
    return Invalid(
        absl::StrCat("could not match ", ports.size(), " port numbers to ", n, " hosts"));
  }
  std::vector<Endpoint> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].host = hosts.size() == n ? hosts[i] : "";
    out[i].hostaddr = addrs.size() == n ? addrs[i] : "";
    if (out[i].host.empty() && out[i].hostaddr.empty()) out[i].host = "localhost";
    const std::string& port_text = ports.size() == 1 ? ports[0] : ports[i];
    if (port_text.empty()) continue;  // default 5432
    int port_number = 0;
    if (!ParseLibpqInt(port_text, &port_number)) {
      return Invalid(
          absl::StrCat("invalid integer value \"", port_text, "\" for connection option \"port\""));
    }
    if (port_number < 1 || port_number > 65535) {
      return Invalid(absl::StrCat("invalid port number: \"", port_text, "\""));
    }
    out[i].port = port_number;
  }
  return out;
}

}  // namespace walrep
