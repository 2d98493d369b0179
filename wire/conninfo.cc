#include "wire/conninfo.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/conninfo_syntax.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

using conninfo_internal::Invalid;
using conninfo_internal::Quote;

struct KeywordInfo {
  const char* keyword;
  const char* envvar;  // nullptr: no environment fallback
};

// The keywords of libpq 17 (PQconninfoOptions order) that walrep accepts.
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
    {"sslnegotiation", "PGSSLNEGOTIATION"},
    {"sslcompression", "PGSSLCOMPRESSION"},
    {"sslcert", "PGSSLCERT"},
    {"sslkey", "PGSSLKEY"},
    {"sslpassword", nullptr},
    {"sslrootcert", "PGSSLROOTCERT"},
    {"sslcrl", "PGSSLCRL"},
    {"sslcrldir", "PGSSLCRLDIR"},
    {"sslsni", "PGSSLSNI"},
    {"requirepeer", "PGREQUIREPEER"},
    {"ssl_min_protocol_version", "PGSSLMINPROTOCOLVERSION"},
    {"ssl_max_protocol_version", "PGSSLMAXPROTOCOLVERSION"},
    {"gssencmode", "PGGSSENCMODE"},
    {"replication", nullptr},
    {"target_session_attrs", "PGTARGETSESSIONATTRS"},
    {"load_balance_hosts", "PGLOADBALANCEHOSTS"},
};

// Keywords libpq knows that walrep refuses rather than silently ignores, each with the
// reason: accepting them would drop a constraint the user asked for, or pretend to a
// feature (GSSAPI) walrep does not have. Their environment variables are not read.
struct UnsupportedKeyword {
  const char* keyword;
  const char* reason;
};
constexpr UnsupportedKeyword kUnsupported[] = {
    {"sslcertmode", "client certificate modes are not implemented"},
    {"require_auth", "restricting authentication methods is not implemented"},
    {"krbsrvname", "walrep is built without GSSAPI"},
    {"gsslib", "walrep is built without GSSAPI"},
    {"gssdelegation", "walrep is built without GSSAPI"},
};

const KeywordInfo* FindKeyword(absl::string_view keyword) {
  for (const KeywordInfo& k : kKeywords) {
    if (keyword == k.keyword) return &k;
  }
  return nullptr;
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
    for (const UnsupportedKeyword& u : kUnsupported) {
      if (keyword == u.keyword) {
        return Invalid(absl::StrCat("connection option ", Quote(keyword),
                                    " is not supported by walrep (", u.reason, ")"));
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

// Defaults differ from libpq's in one place: with no host, libpq uses its compiled-in
// Unix-socket directory, which walrep does not guess, so the default host is "localhost"
// (also the name libpq's .pgpass lookup uses for the default socket, so passfiles written
// for libpq keep matching). A Unix socket is used when host names its directory.
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
  // Built-in defaults also replace explicitly empty host, port, user and dbname values,
  // as libpq's connect does.
  auto fill = [this](absl::string_view keyword, absl::string_view value) {
    if (Get(keyword).empty()) {
      values_.insert_or_assign(std::string(keyword), std::string(value));
    }
  };
  fill("host", "localhost");
  fill("port", "5432");
  fill("user", env.os_user);
  fill("dbname", Get("user"));
  // libpq 16: sslrootcert=system makes verify-full the default sslmode. An explicitly
  // empty sslmode stays empty, and Validate() rejects it, as libpq does.
  if (!IsSet("sslmode")) {
    values_.insert_or_assign("sslmode", Get("sslrootcert") == "system" ? "verify-full"
                                                                        : "prefer");
  }
  if (Get("user").empty()) values_.erase("user");
  if (Get("dbname").empty()) values_.erase("dbname");
  return absl::OkStatus();
}

}  // namespace walrep
