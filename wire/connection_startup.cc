// Session startup: the StartupMessage and its parameters, the messages up to
// ReadyForQuery, and the target_session_attrs check made once a session is up.
// Establishment is in connection.cc, authentication in connection_auth.cc.
#include <langinfo.h>

#include <clocale>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/backend_error.h"
#include "wire/backend_query.h"
#include "wire/backend_startup.h"
#include "wire/connection.h"
#include "wire/frontend.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// libpq's client_encoding=auto: the encoding of the process's LC_CTYPE locale. walrep
// never calls setlocale(), so this is normally the C locale, which libpq maps to
// SQL_ASCII as well. Of libpq's table only UTF-8 is recognised besides; for any other
// character set nothing is sent and the server's default applies — what libpq does
// with a locale it cannot map.
std::string AutoClientEncoding() {
  const char* locale = std::setlocale(LC_CTYPE, nullptr);
  if (locale == nullptr || std::string(locale) == "C" || std::string(locale) == "POSIX") {
    return "SQL_ASCII";
  }
  const char* codeset = nl_langinfo(CODESET);
  if (codeset != nullptr &&
      (absl::EqualsIgnoreCase(codeset, "UTF-8") || absl::EqualsIgnoreCase(codeset, "utf8"))) {
    return "UTF8";
  }
  return "";
}

// The value of a one-row SHOW.
absl::StatusOr<std::string> ShowSetting(PgConnection& conn, absl::string_view name) {
  ASSIGN_OR_RETURN(std::vector<ResultSet> rs, conn.Query(absl::StrCat("SHOW ", name)));
  if (rs.size() != 1 || rs[0].rows.size() != 1 || rs[0].rows[0].values.size() != 1 ||
      !rs[0].rows[0].values[0].has_value()) {
    return absl::DataLossError(absl::StrCat("SHOW ", name, " returned no value"));
  }
  return *rs[0].rows[0].values[0];
}

}  // namespace

namespace connection_internal {

// Whether a connected server is what target_session_attrs asks for, decided as libpq
// decides it: from the in_hot_standby and default_transaction_read_only parameters that
// PostgreSQL 14+ reports at startup, else from SHOW transaction_read_only (which a
// replication connection accepts, unlike pg_is_in_recovery()). OK when it matches;
// otherwise Unavailable with libpq's reason, so the next host is tried.
absl::Status CheckSessionAttrs(PgConnection& conn, absl::string_view wanted) {
  if (wanted.empty() || wanted == "any") return absl::OkStatus();
  bool hot_standby = false;
  bool read_only = false;
  const std::string reported = conn.parameter("in_hot_standby");
  if (!reported.empty()) {
    hot_standby = reported == "on";
    read_only = hot_standby || conn.parameter("default_transaction_read_only") == "on";
  } else {
    absl::StatusOr<std::string> ro = ShowSetting(conn, "transaction_read_only");
    if (!ro.ok()) return ro.status();
    read_only = *ro == "on";
    hot_standby = read_only;  // before 14 a standby is told apart by being read-only
  }
  const char* reason = nullptr;
  if (wanted == "read-write" && read_only) reason = "session is read-only";
  if (wanted == "read-only" && !read_only) reason = "session is not read-only";
  if (wanted == "primary" && hot_standby) reason = "server is in hot standby mode";
  if ((wanted == "standby" || wanted == "prefer-standby") && !hot_standby) {
    reason = "server is not in hot standby mode";
  }
  if (reason == nullptr) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("connection to server at ", conn.endpoint(),
                                             " does not match target_session_attrs=", wanted, ": ",
                                             reason));
}

}  // namespace connection_internal

absl::Status PgConnection::Startup(const ConnInfo& info, const ConnectionOptions& options) {
  if (info.user().empty()) {
    return absl::InvalidArgumentError("no user name given and none could be determined");
  }
  StartupParameters params = {{"user", info.user()}};
  if (!info.dbname().empty()) params.emplace_back("database", info.dbname());
  if (!info.replication().empty()) {
    params.emplace_back("replication", info.replication());
  } else if (options.replication) {
    params.emplace_back("replication", "true");
  }
  std::string app = info.application_name();
  if (app.empty()) app = info.Get("fallback_application_name");
  if (app.empty()) app = options.default_application_name;
  if (!app.empty()) params.emplace_back("application_name", app);
  if (!info.Get("options").empty()) params.emplace_back("options", info.Get("options"));
  const std::string encoding =
      info.Get("client_encoding") == "auto" ? AutoClientEncoding() : info.Get("client_encoding");
  if (!encoding.empty()) params.emplace_back("client_encoding", encoding);
  ASSIGN_OR_RETURN(std::string packet, EncodeStartupMessage(params));
  RETURN_IF_ERROR(Send(packet));
  RETURN_IF_ERROR(Authenticate(info));

  for (;;) {
    ASSIGN_OR_RETURN(BackendMessage msg, ReadRequired("ReadyForQuery"));
    switch (msg.type) {
      case 'K': {
        absl::StatusOr<BackendKeyData> key = DecodeBackendKeyData(msg.body);
        if (!key.ok()) return Fail(key.status());
        backend_pid_ = key->process_id;
        cancel_key_ = std::move(key->secret_key);
        break;
      }
      case 'Z': {
        absl::StatusOr<TransactionStatus> ts = DecodeReadyForQuery(msg.body);
        if (!ts.ok()) return Fail(ts.status());
        ready_ = true;
        return absl::OkStatus();
      }
      case 'E': {
        absl::StatusOr<ErrorFields> fields = DecodeErrorFields(msg.body);
        return Fail(fields.ok() ? fields->ToStatus() : fields.status());
      }
      default:
        return Unexpected(msg, "startup");
    }
  }
}

}  // namespace walrep
