#include "engine/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replay/errno_status.h"

extern char** environ;

namespace walrep {
namespace {

// Child side, between fork and exec: async-signal-safe calls only. On failure the errno
// goes to `report_fd` (close-on-exec, so a successful exec closes it with nothing written).
[[noreturn]] void ExecChild(const SpawnOptions& o, char* const* argv, int report_fd) {
  auto fail = [&](int err) {
    ssize_t ignored = write(report_fd, &err, sizeof(err));
    (void)ignored;
    _exit(127);
  };
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // EINVAL for KILL/STOP: fine
  if (setsid() < 0) fail(errno);
  // The agent's working directory may be one the server's user cannot enter (/root).
  if (chdir("/") < 0) fail(errno);
  int null_fd = open("/dev/null", O_RDWR);
  if (null_fd < 0) fail(errno);
  int out = o.stdout_fd >= 0 ? o.stdout_fd : null_fd;
  if (dup2(null_fd, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) fail(errno);
  if (o.run_as.drop) {
    if (setgroups(o.run_as.groups.size(), o.run_as.groups.data()) < 0) fail(errno);
    if (setgid(o.run_as.gid) < 0) fail(errno);
    if (setuid(o.run_as.uid) < 0) fail(errno);
  }
  // Everything but 0-2 and the report pipe: the agent's sockets and files must not stay
  // open for the server's lifetime (a listening gRPC port held by postgres after the agent
  // exited would block the agent's restart).
  // report_fd is >= 3 (0-2 were open when the pipe was made).
  if ((report_fd > 3 &&
       syscall(SYS_close_range, 3U, static_cast<unsigned>(report_fd) - 1, 0U) != 0) ||
      syscall(SYS_close_range, static_cast<unsigned>(report_fd) + 1, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 65536; ++fd) {  // kernels without close_range
      if (fd != report_fd) close(fd);
    }
  }
  execve(argv[0], argv, environ);
  fail(errno);
  _exit(127);  // not reached; `fail` is a lambda the compiler cannot see as noreturn
}

}  // namespace

absl::StatusOr<RunAs> ResolveRunAs(const std::string& os_user) {
  RunAs r;
  if (geteuid() != 0) {
    if (!os_user.empty()) {
      struct passwd* pw = getpwnam(os_user.c_str());
      if (pw == nullptr || pw->pw_uid != geteuid()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--pg_os_user=", os_user,
            " needs the agent to run as root (a non-root agent runs postgres as itself)"));
      }
    }
    return r;
  }
  if (os_user.empty()) {
    return absl::InvalidArgumentError(
        "the agent runs as root and PostgreSQL refuses to: set --pg_os_user to the OS user "
        "that owns the data directory (e.g. postgres)");
  }
  struct passwd* pw = getpwnam(os_user.c_str());
  if (pw == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--pg_os_user: no OS user \"", os_user, "\""));
  }
  if (pw->pw_uid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pg_os_user=", os_user, " is root; PostgreSQL refuses to run as root"));
  }
  r.drop = true;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  r.name = os_user;
  int n = 64;
  for (;;) {
    r.groups.resize(n);
    int got = n;
    if (getgrouplist(os_user.c_str(), r.gid, r.groups.data(), &got) >= 0) {
      r.groups.resize(got);
      break;
    }
    n = got > n ? got : n * 2;
  }
  return r;
}

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty() || options.argv[0][0] != '/') {
    return absl::InvalidArgumentError("Spawn: argv[0] must be an absolute path");
  }
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return ErrnoStatus("pipe", options.argv[0], errno);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(report[0]);
    close(report[1]);
    return ErrnoStatus("fork", options.argv[0], err);
  }
  if (pid == 0) {
    close(report[0]);
    ExecChild(options, argv.data(), report[1]);
  }
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n > 0) {
    waitpid(pid, nullptr, 0);
    return ErrnoStatus(
        options.run_as.drop ? absl::StrCat("exec as ", options.run_as.name) : std::string("exec"),
        options.argv[0], child_errno);
  }
  return pid;
}

absl::StatusOr<std::string> RunProgram(const std::vector<std::string>& argv, const RunAs& run_as,
                                       absl::Duration timeout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) return ErrnoStatus("pipe", argv.at(0), errno);
  SpawnOptions o{argv, run_as, out[1]};
  absl::StatusOr<pid_t> pid = Spawn(o);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  const absl::Time deadline = absl::Now() + timeout;
  std::string output;
  bool timed_out = false;
  for (;;) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, n);
  }
  close(out[0]);
  if (timed_out) kill(*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string cmd = absl::StrJoin(argv, " ");
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(cmd, ": no result within ", absl::FormatDuration(timeout), ": ", output));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(cmd, ": ",
                     WIFEXITED(status) ? absl::StrCat("exit code ", WEXITSTATUS(status))
                                       : absl::StrCat("killed by signal ", WTERMSIG(status)),
                     ": ", output));
  }
  return output;
}

}  // namespace walrep
