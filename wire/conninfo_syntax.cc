#include "wire/conninfo_syntax.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep::conninfo_internal {
namespace {

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
      // Never the token itself: it may be (part of) a password.
      return Invalid(absl::StrCat("invalid percent-encoded token at offset ", i));
    }
    if (hi == 0 && lo == 0) {
      return Invalid(absl::StrCat("forbidden value %00 in percent-encoded value at offset ", i));
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
      return Invalid("missing key/value separator \"=\" in a URI query parameter");
    }
    if (pair.find('=', eq + 1) != absl::string_view::npos) {
      return Invalid("extra key/value separator \"=\" in a URI query parameter");
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

// Errors in the keyword/value form quote a word only when it is a known keyword: an
// unknown word may be the rest of a password that held a space and was not quoted.
std::string SafeName(absl::string_view name, size_t offset) {
  for (const std::string& k : ConnInfo::Keywords()) {
    if (k == name) return Quote(name);
  }
  return absl::StrCat("the word at offset ", offset);
}

}  // namespace

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
      return Invalid(absl::StrCat("missing \"=\" after ", SafeName(name, name_start),
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
                                      SafeName(name, name_start), " in connection info string"));
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
            "address in URI"));
      }
      if (close == p + 1) {
        return Invalid(
            "IPv6 host address may not be empty in URI");
      }
      host = s.substr(p + 1, close - p - 1);
      p = close + 1;
      if (p < s.size() && s[p] != ':' && s[p] != '/' && s[p] != '?' && s[p] != ',') {
        return Invalid(absl::StrCat("unexpected character \"", s.substr(p, 1),
                                    "\" at position ", prefix_len + p + 1,
                                    " in URI (expected \":\" or \"/\")"));
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

}  // namespace walrep::conninfo_internal
