#include "tools/walrepctl/backup_flags.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace walrep {
namespace {

absl::StatusOr<v1::CompressionMethod> Method(absl::string_view name) {
  if (name == "none") return v1::COMPRESSION_METHOD_NONE;
  if (name == "gzip") return v1::COMPRESSION_METHOD_GZIP;
  if (name == "lz4") return v1::COMPRESSION_METHOD_LZ4;
  if (name == "zstd") return v1::COMPRESSION_METHOD_ZSTD;
  return absl::InvalidArgumentError(
      absl::StrCat("--compress: unknown method \"", name, "\" (none, gzip, lz4, zstd)"));
}

}  // namespace

absl::StatusOr<v1::BackupCompression> ParseCompressFlag(absl::string_view spec) {
  v1::BackupCompression c;
  int old_level = 0;
  if (absl::SimpleAtoi(spec, &old_level)) {  // pg_basebackup -Z 0..9: gzip at that level
    if (old_level < 0 || old_level > 9) {
      return absl::InvalidArgumentError("--compress: a bare level must be 0..9 (gzip)");
    }
    c.set_method(old_level == 0 ? v1::COMPRESSION_METHOD_NONE : v1::COMPRESSION_METHOD_GZIP);
    c.set_location(v1::COMPRESSION_LOCATION_CLIENT);
    if (old_level > 0) c.set_level(old_level);
    return c;
  }
  absl::string_view rest = spec;
  c.set_location(v1::COMPRESSION_LOCATION_CLIENT);
  if (absl::ConsumePrefix(&rest, "server-")) {
    c.set_location(v1::COMPRESSION_LOCATION_SERVER);
  } else {
    absl::ConsumePrefix(&rest, "client-");
  }
  absl::string_view method = rest, detail;
  if (size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    method = rest.substr(0, colon);
    detail = rest.substr(colon + 1);
  }
  auto m = Method(method);
  if (!m.ok()) return m.status();
  c.set_method(*m);
  if (!detail.empty()) {
    absl::ConsumePrefix(&detail, "level=");
    int level = 0;
    if (!absl::SimpleAtoi(detail, &level)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--compress: detail \"", detail, "\" is not supported (only a level: METHOD:N)"));
    }
    c.set_level(level);
  }
  return c;
}

absl::StatusOr<v1::BackupFormat> ParseFormatFlag(absl::string_view spec) {
  if (spec == "plain" || spec == "p") return v1::BACKUP_FORMAT_PLAIN;
  if (spec == "tar" || spec == "t") return v1::BACKUP_FORMAT_TAR;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: \"", spec, "\" is neither plain (p) nor tar (t)"));
}

absl::Status ParseTablespaceMappings(const std::vector<std::string>& specs,
                                     v1::FetchBaseBackupRequest* req) {
  for (const std::string& spec : specs) {
    std::string from, to;
    bool seen_eq = false;
    for (size_t i = 0; i < spec.size(); ++i) {
      char ch = spec[i];
      if (ch == '\\' && i + 1 < spec.size() && spec[i + 1] == '=') {
        (seen_eq ? to : from).push_back('=');
        ++i;
      } else if (ch == '=' && !seen_eq) {
        seen_eq = true;
      } else if (ch == '=') {
        return absl::InvalidArgumentError(
            absl::StrCat("--tablespace_mapping \"", spec, "\": more than one \"=\""));
      } else {
        (seen_eq ? to : from).push_back(ch);
      }
    }
    if (!seen_eq || from.empty() || to.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tablespace_mapping \"", spec, "\": expected OLDDIR=NEWDIR"));
    }
    (*req->mutable_tablespace_mapping())[from] = to;
  }
  return absl::OkStatus();
}

std::string ProgressLine(const v1::BackupProgress& p) {
  uint64_t done_kb = p.bytes_done() / 1024;
  // As pg_basebackup: an estimate that turned out low grows to what was sent.
  uint64_t total_kb = std::max(p.bytes_total() / 1024, done_kb);
  int percent = total_kb == 0 ? 0 : static_cast<int>(std::min<uint64_t>(100, done_kb * 100 / total_kb));
  std::string total = absl::StrCat(total_kb);
  uint32_t n = p.tablespaces_total();
  return absl::StrFormat("%*d/%s kB (%d%%), %d/%d %s", static_cast<int>(total.size()), done_kb,
                         total, percent, p.tablespaces_done(), n,
                         n == 1 ? "tablespace" : "tablespaces");
}

}  // namespace walrep
