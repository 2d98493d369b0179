#include "agent/audit.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/logging.h"
#include "wire/conninfo.h"

namespace walrep {
namespace {

constexpr absl::string_view kMask = "********";

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lenient %XX decoding: a malformed escape is kept as is (the text may be echoed either
// way, so both forms count).
std::string LenientDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) << 4 | Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void AddFragment(std::vector<std::string>* out, absl::string_view raw, bool uri) {
  if (raw.empty()) return;
  out->emplace_back(raw);
  if (uri) out->push_back(LenientDecode(raw));
}

// The keyword/value form: `password = value` with value single-quoted (backslash escapes)
// or up to whitespace. For an unterminated quote, everything after it.
void KeywordValueFragments(absl::string_view s, std::vector<std::string>* out) {
  for (absl::string_view key : {"sslpassword", "password"}) {
    size_t from = 0;
    while ((from = s.find(key, from)) != absl::string_view::npos) {
      size_t i = from + key.size();
      from = i;
      while (i < s.size() && absl::ascii_isspace(s[i])) ++i;
      if (i >= s.size() || s[i] != '=') continue;
      ++i;
      while (i < s.size() && absl::ascii_isspace(s[i])) ++i;
      std::string value;
      size_t start = i;
      if (i < s.size() && s[i] == '\'') {
        ++start;
        for (++i; i < s.size() && s[i] != '\''; ++i) {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value.push_back(s[i]);
        }
      } else {
        while (i < s.size() && !absl::ascii_isspace(s[i])) {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value.push_back(s[i++]);
        }
      }
      AddFragment(out, value, false);
      AddFragment(out, s.substr(start, i - start), false);  // as written, escapes included
      if (i >= s.size()) AddFragment(out, s.substr(start), false);
    }
  }
}

void UriFragments(absl::string_view s, std::vector<std::string>* out) {
  size_t scheme = s.find("://");
  if (scheme == absl::string_view::npos) return;
  absl::string_view rest = s.substr(scheme + 3);
  // User info ends at the last '@' before the path (a password may itself hold '@' or '/').
  size_t at = rest.rfind('@', rest.find('?'));
  if (at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    size_t colon = userinfo.find(':');
    if (colon != absl::string_view::npos) AddFragment(out, userinfo.substr(colon + 1), true);
  }
  size_t q = rest.find('?');
  if (q == absl::string_view::npos) return;
  absl::string_view params = rest.substr(q + 1);
  while (!params.empty()) {
    size_t amp = std::min(params.find('&'), params.size());
    absl::string_view pair = params.substr(0, amp);
    params.remove_prefix(std::min(amp + 1, params.size()));
    size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) continue;
    std::string key = LenientDecode(pair.substr(0, eq));
    if (key == "password" || key == "sslpassword") AddFragment(out, pair.substr(eq + 1), true);
  }
}

}  // namespace

std::string RedactConnInfo(absl::string_view conninfo) {
  auto parsed = ConnInfo::Parse(conninfo);
  if (parsed.ok()) return parsed->Redacted();
  return absl::StrCat("<malformed conninfo, ", conninfo.size(), " bytes>");
}

std::vector<std::string> SecretFragments(absl::string_view conninfo) {
  std::vector<std::string> out;
  UriFragments(conninfo, &out);
  KeywordValueFragments(conninfo, &out);
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

std::string ScrubSecrets(std::string message, absl::string_view conninfo) {
  for (const std::string& f : SecretFragments(conninfo)) {
    absl::StrReplaceAll({{f, kMask}}, &message);
  }
  return message;
}

std::string DescribeCaller(const grpc::ServerContext& ctx, bool token_configured) {
  std::string who = token_configured ? "token" : "none";
  auto auth = ctx.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    auto subject = auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (!subject.empty()) {
      who = std::string(subject.front().data(), subject.front().size());
    } else {
      auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
      if (!cn.empty()) who = absl::StrCat("CN=", std::string(cn.front().data(), cn.front().size()));
    }
    if (token_configured) absl::StrAppend(&who, " +token");
  }
  return absl::StrCat(ctx.peer(), " as ", who);
}

void AuditLog(absl::string_view rpc, const grpc::ServerContext& ctx, bool token_configured,
              const google::protobuf::Message& redacted_request, const grpc::Status& outcome) {
  static auto* log = new std::shared_ptr<spdlog::logger>(ModuleLogger("audit"));
  std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(outcome.error_code()));
  // A refused token is not an identity: such a caller is shown as "none".
  const bool token_ok =
      token_configured && outcome.error_code() != grpc::StatusCode::UNAUTHENTICATED;
  (*log)->info("{} by {}: {{{}}} -> {}", rpc, DescribeCaller(ctx, token_ok),
               redacted_request.ShortDebugString(), code);
}

v1::StartReplicaRequest Redacted(const v1::StartReplicaRequest& req) {
  v1::StartReplicaRequest out = req;
  out.set_conninfo(RedactConnInfo(req.conninfo()));
  return out;
}

v1::FetchBaseBackupRequest Redacted(const v1::FetchBaseBackupRequest& req) {
  v1::FetchBaseBackupRequest out = req;
  out.set_conninfo(RedactConnInfo(req.conninfo()));
  return out;
}

}  // namespace walrep
