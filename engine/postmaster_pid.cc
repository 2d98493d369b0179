#include "engine/postmaster_pid.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/durable_file.h"
#include "replay/file_ops.h"

namespace walrep {
namespace {

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return "";
  return std::string(buf, n);
}

}  // namespace

absl::StatusOr<PostmasterPid> ParsePostmasterPid(absl::string_view contents) {
  std::vector<absl::string_view> lines = absl::StrSplit(contents, '\n');
  PostmasterPid out;
  int64_t pid = 0;
  if (lines.empty() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[0]), &pid) || pid <= 0 ||
      pid > INT32_MAX) {
    return absl::InvalidArgumentError("postmaster.pid: the first line is not a process id");
  }
  out.pid = static_cast<pid_t>(pid);
  if (lines.size() > 1) out.data_dir = std::string(absl::StripAsciiWhitespace(lines[1]));
  if (lines.size() > 3) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[3]), &out.port)) out.port = 0;
  }
  if (lines.size() > 7) out.status = std::string(absl::StripAsciiWhitespace(lines[7]));
  return out;
}

absl::StatusOr<PostmasterPid> ReadPostmasterPid(const std::string& pgdata) {
  absl::StatusOr<std::string> contents = ReadWholeFile(JoinPath(pgdata, "postmaster.pid"));
  if (!contents.ok()) return contents.status();
  return ParsePostmasterPid(*contents);
}

bool IsPostmasterOf(pid_t pid, const std::string& bindir, const std::string& pgdata) {
  if (pid <= 0) return false;
  const std::string proc = absl::StrCat("/proc/", pid);
  absl::StatusOr<std::string> cmdline = ReadWholeFile(proc + "/cmdline");
  if (!cmdline.ok() || cmdline->empty()) return false;  // gone, or a zombie
  std::vector<std::string> argv = absl::StrSplit(*cmdline, '\0', absl::SkipEmpty());
  if (argv.empty()) return false;
  const std::string want_exe = RealPath(JoinPath(bindir, "postgres"));
  if (want_exe.empty() || RealPath(argv[0]) != want_exe) return false;
  const std::string want_dir = RealPath(pgdata);
  std::string cwd = ReadLink(proc + "/cwd");
  if (!cwd.empty()) return cwd == want_dir;
  // Without the right to read another user's cwd (a non-root agent): the -D argument.
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-D") return RealPath(argv[i + 1]) == want_dir;
  }
  return false;
}

}  // namespace walrep
