#include "wire/conninfo.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/conninfo_syntax.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

using conninfo_internal::Invalid;
using conninfo_internal::IsSpace;
using conninfo_internal::Quote;

struct KeywordInfo {
  const char* keyword;
  const char* envvar;  // nullptr: no environment fallback
};

// libpq 15's keywords (PQconninfoOptions order) that walrep accepts.
constexpr KeywordInfo kKeywords[] = {
    {"service", "PGSERVICE"},
    {"user", "PGUSER"},
    {"password", "PGPASSWORD"},
    {"passfile", "PGPASSFILE"},
    {"channel_binding", "PGCHANNELBINDING"},
    {"connect_timeout", "PGCONNECT_TIMEOUT"},
    {"dbname", "PGDATABASE"},
    {"host", "PGHOST"},
    {"hostaddr", "PGHOSTADDR"},
    {"port", "PGPORT"},
    {"client_encoding", "PGCLIENTENCODING"},
    {"options", "PGOPTIONS"},
    {"application_name", "PGAPPNAME"},
    {"fallback_application_name", nullptr},
    {"keepalives", nullptr},
    {"keepalives_idle", nullptr},
    {"keepalives_interval", nullptr},
    {"keepalives_count", nullptr},
    {"tcp_user_timeout", nullptr},
    {"sslmode", "PGSSLMODE"},
    {"sslcompression", "PGSSLCOMPRESSION"},
    {"sslcert", "PGSSLCERT"},
    {"sslkey", "PGSSLKEY"},
    {"sslpassword", nullptr},
    {"sslrootcert", "PGSSLROOTCERT"},
    {"sslcrl", "PGSSLCRL"},
    {"sslsni", "PGSSLSNI"},
    {"requirepeer", "PGREQUIREPEER"},
    {"gssencmode", "PGGSSENCMODE"},
    {"krbsrvname", "PGKRBSRVNAME"},
    {"replication", nullptr},
    {"target_session_attrs", "PGTARGETSESSIONATTRS"},
};

// Keywords libpq knows that walrep refuses rather than silently ignores: its TLS layer
// does not implement CRL directories or protocol-version bounds, and it has no GSSAPI,
// so accepting them would drop a security constraint the user asked for.
constexpr const char* kUnsupported[] = {"sslcrldir", "ssl_min_protocol_version",
                                        "ssl_max_protocol_version", "gsslib"};

const KeywordInfo* FindKeyword(absl::string_view keyword) {
  for (const KeywordInfo& k : kKeywords) {
    if (keyword == k.keyword) return &k;
  }
  return nullptr;
}



// libpq's pqParseIntParam: strtol with surrounding whitespace allowed, must fit an int.
bool ParseIntParam(const std::string& value, int* result) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || errno != 0 || v < INT_MIN || v > INT_MAX) return false;
  while (*end != '\0' && IsSpace(*end)) ++end;
  if (*end != '\0') return false;
  *result = static_cast<int>(v);
  return true;
}

absl::Status CheckOneOf(const ConnInfo& info, absl::string_view keyword,
                        std::initializer_list<absl::string_view> allowed) {
  if (!info.IsSet(keyword)) return absl::OkStatus();
  std::string value = info.Get(keyword);
  for (absl::string_view a : allowed) {
    if (value == a) return absl::OkStatus();
  }
  return Invalid(absl::StrCat("invalid ", keyword, " value: \"", value, "\""));
}

// Splits a comma-separated libpq list; an unset or empty value is one empty element.
std::vector<std::string> SplitList(const std::string& value) {
  return absl::StrSplit(value, ',');
}

}  // namespace

const std::vector<std::string>& ConnInfo::Keywords() {
  static const auto* keywords = [] {
    auto* v = new std::vector<std::string>();
    for (const KeywordInfo& k : kKeywords) v->push_back(k.keyword);
    return v;
  }();
  return *keywords;
}

absl::StatusOr<ConnInfo> ConnInfo::Parse(absl::string_view conninfo) {
  ConnInfo info;
  if (size_t prefix = conninfo_internal::UriPrefixLength(conninfo); prefix != 0) {
    RETURN_IF_ERROR(conninfo_internal::ParseUri(conninfo, prefix, &info));
  } else {
    RETURN_IF_ERROR(conninfo_internal::ParseKeywordValue(conninfo, &info));
  }
  return info;
}

absl::Status ConnInfo::Set(absl::string_view keyword, absl::string_view value) {
  return Store(keyword, value);
}

absl::Status ConnInfo::Store(absl::string_view keyword, absl::string_view value) {
  if (keyword.find('\0') != absl::string_view::npos) {
    return Invalid("connection option name contains a NUL byte");
  }
  // Kept for compatibility by libpq: requiressl=1 is sslmode=require, anything else
  // sslmode=prefer.
  if (keyword == "requiressl") {
    keyword = "sslmode";
    value = !value.empty() && value[0] == '1' ? "require" : "prefer";
  }
  if (FindKeyword(keyword) == nullptr) {
    for (const char* unsupported : kUnsupported) {
      if (keyword == unsupported) {
        return Invalid(absl::StrCat("connection option ", Quote(keyword),
                                    " is not supported by walrep"));
      }
    }
    return Invalid(absl::StrCat("invalid connection option ", Quote(keyword)));
  }
  if (value.find('\0') != absl::string_view::npos) {
    return Invalid(absl::StrCat("value of connection option ", Quote(keyword),
                                " contains a NUL byte"));
  }
  if (keyword == "password") {
    password_ = std::string(value);
  } else {
    values_.insert_or_assign(std::string(keyword), std::string(value));
  }
  return absl::OkStatus();
}

bool ConnInfo::IsSet(absl::string_view keyword) const {
  if (keyword == "password") return password_.has_value();
  return values_.find(keyword) != values_.end();
}

std::string ConnInfo::Get(absl::string_view keyword) const { return Ref(keyword); }

const std::string& ConnInfo::Ref(absl::string_view keyword) const {
  static const std::string* const kEmpty = new std::string();
  auto it = values_.find(keyword);
  return it == values_.end() ? *kEmpty : it->second;
}

const std::string& ConnInfo::password() const {
  static const std::string* const kEmpty = new std::string();
  return password_.has_value() ? *password_ : *kEmpty;
}

std::vector<std::string> ConnInfo::SetKeywords() const {
  std::vector<std::string> out;
  for (const KeywordInfo& k : kKeywords) {
    if (IsSet(k.keyword)) out.push_back(k.keyword);
  }
  return out;
}

std::string ConnInfo::Redacted() const {
  std::string out;
  for (const KeywordInfo& k : kKeywords) {
    absl::string_view keyword = k.keyword;
    if (!IsSet(keyword)) continue;
    if (!out.empty()) out.push_back(' ');
    absl::StrAppend(&out, keyword, "=");
    if (keyword == "password" || keyword == "sslpassword") {
      out.append("********");
      continue;
    }
    // Always quoted, so any value (empty, spaces, quotes) reads back unchanged.
    out.push_back('\'');
    for (char c : Ref(keyword)) {
      if (c == '\'' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('\'');
  }
  return out;
}

// Defaults differ from libpq's in one place: with no host, libpq uses the unix-socket
// directory, but walrep speaks TCP only, so the default host is "localhost" (which is
// also the name libpq's .pgpass lookup uses for the default socket, so passfiles
// written for libpq keep matching).
absl::Status ConnInfo::ApplyDefaults(const Environment& env) {
  auto env_value = [&env](const char* name) -> const std::string* {
    auto it = env.vars.find(name);
    return it == env.vars.end() ? nullptr : &it->second;
  };
  for (const KeywordInfo& k : kKeywords) {
    if (IsSet(k.keyword) || k.envvar == nullptr) continue;
    if (const std::string* v = env_value(k.envvar)) {
      RETURN_IF_ERROR(Store(k.keyword, *v));
    } else if (std::string(k.keyword) == "sslmode") {
      // The deprecated PGREQUIRESSL=1 still means sslmode=require when PGSSLMODE is unset.
      const std::string* requiressl = env_value("PGREQUIRESSL");
      if (requiressl != nullptr && absl::StartsWith(*requiressl, "1")) {
        RETURN_IF_ERROR(Store("sslmode", "require"));
      }
    }
  }
  if (IsSet("service")) {
    return absl::UnimplementedError(absl::StrCat(
        "connection service \"", Get("service"),
        "\" requested, but walrep does not read pg_service.conf; spell the settings out"));
  }
  // Built-in defaults also replace explicitly empty values, as libpq's connect does.
  auto fill = [this](absl::string_view keyword, absl::string_view value) {
    if (Get(keyword).empty()) {
      values_.insert_or_assign(std::string(keyword), std::string(value));
    }
  };
  fill("host", "localhost");
  fill("port", "5432");
  fill("user", env.os_user);
  fill("dbname", Get("user"));
  fill("sslmode", "prefer");
  if (Get("user").empty()) values_.erase("user");
  if (Get("dbname").empty()) values_.erase("dbname");
  return absl::OkStatus();
}

absl::Status ConnInfo::Validate() const {
  RETURN_IF_ERROR(CheckOneOf(
      *this, "sslmode",
      {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "channel_binding", {"disable", "prefer", "require"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "gssencmode", {"disable", "prefer", "require"}));
  RETURN_IF_ERROR(CheckOneOf(*this, "target_session_attrs",
                             {"any", "read-write", "read-only", "primary", "standby",
                              "prefer-standby"}));
  for (const char* keyword : {"connect_timeout", "keepalives", "keepalives_idle",
                              "keepalives_interval", "keepalives_count",
                              "tcp_user_timeout"}) {
    int ignored;
    if (IsSet(keyword) && !Get(keyword).empty() && !ParseIntParam(Get(keyword), &ignored)) {
      return Invalid(absl::StrCat("invalid integer value \"", Get(keyword),
                                  "\" for connection option ", Quote(keyword)));
    }
  }
  return Endpoints().status();
}

absl::StatusOr<std::vector<Endpoint>> ConnInfo::Endpoints() const {
  std::vector<std::string> hosts = SplitList(host());
  std::vector<std::string> addrs = SplitList(hostaddr());
  std::vector<std::string> ports = SplitList(port());
  size_t n = std::max(hosts.size(), addrs.size());
  if (IsSet("host") && IsSet("hostaddr") && hosts.size() != addrs.size()) {
    return Invalid(absl::StrCat("could not match ", hosts.size(), " host names to ",
                                addrs.size(), " hostaddr values"));
  }
  if (ports.size() != 1 && ports.size() != n) {
    return Invalid(absl::StrCat("could not match ", ports.size(), " port numbers to ",
                                n, " hosts"));
  }
  std::vector<Endpoint> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].host = hosts.size() == n ? hosts[i] : "";
    out[i].hostaddr = addrs.size() == n ? addrs[i] : "";
    if (out[i].host.empty() && out[i].hostaddr.empty()) out[i].host = "localhost";
    const std::string& port_text = ports.size() == 1 ? ports[0] : ports[i];
    if (port_text.empty()) continue;  // default 5432
    int port_number = 0;
    if (!ParseIntParam(port_text, &port_number)) {
      return Invalid(absl::StrCat("invalid integer value \"", port_text,
                                  "\" for connection option \"port\""));
    }
    if (port_number < 1 || port_number > 65535) {
      return Invalid(absl::StrCat("invalid port number: \"", port_text, "\""));
    }
    out[i].port = port_number;
  }
  return out;
}

}  // namespace walrep
