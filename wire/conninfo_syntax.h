// Internal to wire:conninfo — the two syntaxes libpq accepts for a connection string
// (keyword/value pairs and postgresql:// URIs), split out of conninfo.cc to keep each
// file to one concern. Pure functions; thread-safe.
#ifndef WALREP_WIRE_CONNINFO_SYNTAX_H_
#define WALREP_WIRE_CONNINFO_SYNTAX_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "wire/conninfo.h"

namespace walrep::conninfo_internal {

// isspace() in the C locale, which is what libpq's parser sees.
inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

inline std::string Quote(absl::string_view keyword) { return absl::StrCat("\"", keyword, "\""); }

inline absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// libpq's conninfo_parse over `s`, storing each pair into `out`.
absl::Status ParseKeywordValue(absl::string_view s, ConnInfo* out);
// libpq's conninfo_uri_parse_options over `uri`, whose scheme prefix is `prefix_len` long.
absl::Status ParseUri(absl::string_view uri, size_t prefix_len, ConnInfo* out);
// Length of a "postgresql://" or "postgres://" prefix of `s`, 0 if there is none.
size_t UriPrefixLength(absl::string_view s);

}  // namespace walrep::conninfo_internal

#endif  // WALREP_WIRE_CONNINFO_SYNTAX_H_
