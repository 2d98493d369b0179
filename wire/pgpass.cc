#include "wire/pgpass.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/conninfo.h"
#include "wire/status_macros.h"

extern char** environ;

namespace walrep {
namespace {

// Matches one `:`-terminated field at the front of `line` against `token`, libpq's
// pwdfMatchesString: `*` alone matches anything; a backslash makes the next byte
// literal. On a match, `line` is advanced past the field's terminating colon.
bool MatchField(absl::string_view* line, absl::string_view token) {
  absl::string_view s = *line;
  if (s.size() >= 2 && s[0] == '*' && s[1] == ':') {
    line->remove_prefix(2);
    return true;
  }
  size_t i = 0;
  size_t t = 0;
  while (i < s.size()) {
    bool escaped = false;
    if (s[i] == '\\') {
      ++i;
      escaped = true;
    }
    // libpq reads the byte after a trailing backslash as the string's terminator.
    char c = i < s.size() ? s[i] : '\0';
    if (c == '\0') return false;
    if (c == ':' && !escaped && t == token.size()) {
      line->remove_prefix(i + 1);
      return true;
    }
    if (t == token.size() || c != token[t]) return false;
    ++i;
    ++t;
  }
  return false;
}

}  // namespace

std::optional<std::string> MatchPgpass(absl::string_view contents,
                                       const PgpassQuery& query) {
  if (query.dbname.empty() || query.user.empty()) return std::nullopt;
  const std::string host = query.host.empty() ? "localhost" : query.host;
  const std::string port = query.port.empty() ? "5432" : query.port;
  while (!contents.empty()) {
    size_t nl = contents.find('\n');
    absl::string_view line = contents.substr(0, nl);
    contents.remove_prefix(nl == absl::string_view::npos ? contents.size() : nl + 1);
    if (!line.empty() && line[0] == '#') continue;
    // pg_strip_crlf: trailing CR/LF bytes go.
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
      line.remove_suffix(1);
    }
    // libpq works on C strings: the line ends at a NUL byte.
    line = line.substr(0, line.find('\0'));
    if (line.empty()) continue;
    if (!MatchField(&line, host) || !MatchField(&line, port) ||
        !MatchField(&line, query.dbname) || !MatchField(&line, query.user)) {
      continue;
    }
    // The rest is the password, up to an unescaped colon; `\x` stands for x.
    std::string password;
    for (size_t i = 0; i < line.size() && line[i] != ':'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      password.push_back(line[i]);
    }
    return password;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> LookupPgpass(const std::string& path,
                                                        const PgpassQuery& query) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("password file \"", path, "\" is not a plain file; ignored"));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "password file \"", path,
        "\" has group or world access; permissions should be u=rw (0600) or less; "
        "ignored"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  return MatchPgpass(contents.str(), query);
}

// The process environment and the passfile are the only things ConnInfo reads from the
// OS; they live here so conninfo.cc stays pure string handling.
Environment Environment::FromProcess() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env.vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    env.os_user = found->pw_name;
    env.home_dir = found->pw_dir;
  }
  auto home = env.vars.find("HOME");
  if (home != env.vars.end() && !home->second.empty()) env.home_dir = home->second;
  return env;
}

namespace {
std::string FirstOf(const std::string& list) { return list.substr(0, list.find(',')); }
}  // namespace

absl::Status ConnInfo::ApplyPassfile(const Environment& env) {
  if (!password().empty()) return absl::OkStatus();
  std::string path = Get("passfile");
  if (path.empty() && !env.home_dir.empty()) path = env.home_dir + "/.pgpass";
  if (path.empty()) return absl::OkStatus();
  PgpassQuery query;
  // Like libpq, the lookup uses the host name if there is one, else the address.
  query.host = FirstOf(host());
  if (query.host.empty()) query.host = FirstOf(hostaddr());
  query.port = FirstOf(port());
  query.dbname = dbname();
  query.user = user();
  ASSIGN_OR_RETURN(std::optional<std::string> found, LookupPgpass(path, query));
  if (found.has_value()) password_ = std::move(*found);
  return absl::OkStatus();
}

}  // namespace walrep
