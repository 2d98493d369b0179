#include "wire/conninfo.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

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

// isspace() in the C locale, which is what libpq's parser sees.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string Quote(absl::string_view keyword) { return absl::StrCat("\"", keyword, "\""); }

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// libpq's conninfo_parse: `key = value` pairs separated by whitespace; values may be
// single-quoted; a backslash makes the next byte literal in both forms.
absl::Status ParseKeywordValue(absl::string_view s, ConnInfo* out) {
  size_t i = 0;
  while (i < s.size()) {
    if (IsSpace(s[i])) {
      ++i;
      continue;
    }
    size_t name_start = i;
    while (i < s.size() && s[i] != '=' && !IsSpace(s[i])) ++i;
    absl::string_view name = s.substr(name_start, i - name_start);
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i == s.size() || s[i] != '=') {
      return Invalid(absl::StrCat("missing \"=\" after ", Quote(name),
                                  " in connection info string"));
    }
    ++i;
    while (i < s.size() && IsSpace(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      for (;;) {
        if (i == s.size()) {
          return Invalid(absl::StrCat("unterminated quoted string in value of ",
                                      Quote(name), " in connection info string"));
        }
        if (s[i] == '\\') {
          ++i;
          if (i < s.size()) value.push_back(s[i++]);
          continue;
        }
        if (s[i] == '\'') {
          ++i;
          break;
        }
        value.push_back(s[i++]);
      }
    } else {
      while (i < s.size()) {
        if (IsSpace(s[i])) {
          ++i;
          break;
        }
        if (s[i] == '\\') {
          ++i;
          if (i < s.size()) value.push_back(s[i++]);
        } else {
          value.push_back(s[i++]);
        }
      }
    }
    RETURN_IF_ERROR(out->Set(name, value));
  }
  return absl::OkStatus();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// libpq's conninfo_uri_decode: %XX escapes; %00 is refused.
absl::StatusOr<std::string> UriDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int hi = i + 1 < s.size() ? HexDigit(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Invalid(absl::StrCat("invalid percent-encoded token: \"", s, "\""));
    }
    if (hi == 0 && lo == 0) {
      return Invalid(
          absl::StrCat("forbidden value %00 in percent-encoded value: \"", s, "\""));
    }
    out.push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

absl::Status StoreDecoded(ConnInfo* out, absl::string_view keyword,
                          absl::string_view raw) {
  ASSIGN_OR_RETURN(std::string value, UriDecode(raw));
  return out->Set(keyword, value);
}

// libpq's conninfo_uri_parse_params: `k=v&k=v`, both sides percent-decoded. `ssl=true`
// means sslmode=require (JDBC compatibility).
absl::Status ParseUriParams(absl::string_view params, ConnInfo* out) {
  // A trailing '&' ends the list quietly; an empty pair anywhere else is an error.
  while (!params.empty()) {
    size_t amp = std::min(params.find('&'), params.size());
    absl::string_view pair = params.substr(0, amp);
    params.remove_prefix(std::min(amp + 1, params.size()));
    size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) {
      return Invalid(absl::StrCat(
          "missing key/value separator \"=\" in URI query parameter: \"", pair, "\""));
    }
    if (pair.find('=', eq + 1) != absl::string_view::npos) {
      return Invalid(absl::StrCat(
          "extra key/value separator \"=\" in URI query parameter: \"", pair, "\""));
    }
    ASSIGN_OR_RETURN(std::string key, UriDecode(pair.substr(0, eq)));
    ASSIGN_OR_RETURN(std::string value, UriDecode(pair.substr(eq + 1)));
    if (key == "ssl" && value == "true") {
      key = "sslmode";
      value = "require";
    }
    RETURN_IF_ERROR(out->Set(key, value));
  }
  return absl::OkStatus();
}

// libpq's conninfo_uri_parse_options:
//   postgresql://[user[:password]@][netloc][:port][,...][/dbname][?param=value&...]
// Several netloc[:port] are kept as libpq keeps them: comma-joined host and port lists.
absl::Status ParseUri(absl::string_view uri, size_t prefix_len, ConnInfo* out) {
  absl::string_view s = uri.substr(prefix_len);
  size_t p = 0;
  size_t at = s.find_first_of("@/");
  if (at != absl::string_view::npos && s[at] == '@') {
    size_t colon = s.find(':');
    size_t user_end = colon < at ? colon : at;
    if (user_end > 0) RETURN_IF_ERROR(StoreDecoded(out, "user", s.substr(0, user_end)));
    if (user_end < at && at > user_end + 1) {
      RETURN_IF_ERROR(
          StoreDecoded(out, "password", s.substr(user_end + 1, at - user_end - 1)));
    }
    p = at + 1;
  }
  std::string hosts;
  std::string ports;
  char terminator = '\0';
  for (;;) {
    absl::string_view host;
    if (p < s.size() && s[p] == '[') {
      size_t close = s.find(']', p + 1);
      if (close == absl::string_view::npos) {
        return Invalid(absl::StrCat(
            "end of string reached when looking for matching \"]\" in IPv6 host "
            "address in URI: \"", uri, "\""));
      }
      if (close == p + 1) {
        return Invalid(
            absl::StrCat("IPv6 host address may not be empty in URI: \"", uri, "\""));
      }
      host = s.substr(p + 1, close - p - 1);
      p = close + 1;
      if (p < s.size() && s[p] != ':' && s[p] != '/' && s[p] != '?' && s[p] != ',') {
        return Invalid(absl::StrCat("unexpected character \"", s.substr(p, 1),
                                    "\" at position ", prefix_len + p + 1,
                                    " in URI (expected \":\" or \"/\"): \"", uri, "\""));
      }
    } else {
      size_t end = std::min(s.find_first_of(":/?,", p), s.size());
      host = s.substr(p, end - p);
      p = end;
    }
    absl::StrAppend(&hosts, host);
    terminator = p < s.size() ? s[p] : '\0';
    if (terminator == ':') {
      size_t end = std::min(s.find_first_of("/?,", p + 1), s.size());
      absl::StrAppend(&ports, s.substr(p + 1, end - p - 1));
      p = end;
      terminator = p < s.size() ? s[p] : '\0';
    }
    if (terminator != ',') break;
    ++p;
    hosts.push_back(',');
    ports.push_back(',');
  }
  if (!hosts.empty()) RETURN_IF_ERROR(StoreDecoded(out, "host", hosts));
  if (!ports.empty()) RETURN_IF_ERROR(StoreDecoded(out, "port", ports));
  if (terminator == '/') {
    size_t end = std::min(s.find('?', p + 1), s.size());
    absl::string_view dbname = s.substr(p + 1, end - p - 1);
    // An empty dbname stays unset so PGDATABASE still applies, as in libpq.
    if (!dbname.empty()) RETURN_IF_ERROR(StoreDecoded(out, "dbname", dbname));
    p = end;
    terminator = p < s.size() ? '?' : '\0';
  }
  if (terminator == '?') return ParseUriParams(s.substr(p + 1), out);
  return absl::OkStatus();
}

size_t UriPrefixLength(absl::string_view s) {
  for (absl::string_view prefix : {"postgresql://", "postgres://"}) {
    if (absl::StartsWith(s, prefix)) return prefix.size();
  }
  return 0;
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
  if (size_t prefix = UriPrefixLength(conninfo); prefix != 0) {
    RETURN_IF_ERROR(ParseUri(conninfo, prefix, &info));
  } else {
    RETURN_IF_ERROR(ParseKeywordValue(conninfo, &info));
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
