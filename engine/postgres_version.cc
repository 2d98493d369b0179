#include "engine/postgres_version.h"

#include <dirent.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/subprocess.h"
#include "replay/file_ops.h"

namespace walrep {

absl::StatusOr<int> ParsePostgresVersion(absl::string_view output) {
  constexpr absl::string_view kTag = "(PostgreSQL) ";
  size_t at = output.find(kTag);
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a postgres --version output: \"",
                     absl::StripAsciiWhitespace(output.substr(0, 200)), "\""));
  }
  absl::string_view rest = output.substr(at + kTag.size());
  size_t digits = 0;
  while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
    ++digits;
  }
  int major = 0;
  if (digits == 0 || !absl::SimpleAtoi(rest.substr(0, digits), &major) || major <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no version number in \"", absl::StripAsciiWhitespace(output), "\""));
  }
  return major;
}

absl::StatusOr<int> PostgresMajorVersion(const std::string& bindir) {
  // --version is answered before postgres's refusal to run as root, so no user drop.
  absl::StatusOr<std::string> out =
      RunProgram({JoinPath(bindir, "postgres"), "--version"}, RunAs{}, absl::Seconds(30));
  if (!out.ok()) return out.status();
  return ParsePostgresVersion(*out);
}

std::string DefaultPostgresBindir(const std::string& root) {
  DIR* dir = opendir(root.c_str());
  if (dir == nullptr) return "";
  int best = -1;
  std::string best_path;
  while (struct dirent* e = readdir(dir)) {
    int v = 0;
    if (!absl::SimpleAtoi(e->d_name, &v)) continue;  // "15", not "15.bak" or "."
    std::string bin = JoinPath(JoinPath(root, e->d_name), "bin");
    if (v > best && access(JoinPath(bin, "postgres").c_str(), X_OK) == 0) {
      best = v;
      best_path = bin;
    }
  }
  closedir(dir);
  return best_path;
}

}  // namespace walrep
