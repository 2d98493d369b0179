// subprocess.h and pidfd.h: what a child gets (identity, session, descriptors, working
// directory), how failures are reported, and waiting for/signalling a process by handle.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/pidfd.h"
#include "engine/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;

TEST(RunProgramTest, CapturesOutputAndExitCode) {
  absl::StatusOr<std::string> out = RunProgram({"/bin/echo", "hello"}, RunAs{}, absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello\n");
  absl::StatusOr<std::string> failed =
      RunProgram({"/bin/sh", "-c", "echo oops >&2; exit 3"}, RunAs{}, absl::Seconds(10));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("exit code 3"));
  EXPECT_THAT(failed.status().message(), HasSubstr("oops"));
}

TEST(RunProgramTest, ExecFailureIsReportedWithItsErrno) {
  absl::StatusOr<std::string> out = RunProgram({"/nonexistent/prog"}, RunAs{}, absl::Seconds(10));
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsNotFound(out.status())) << out.status();
  EXPECT_THAT(out.status().message(), HasSubstr("/nonexistent/prog"));
  EXPECT_TRUE(
      absl::IsInvalidArgument(RunProgram({"relative"}, RunAs{}, absl::Seconds(1)).status()));
}

TEST(RunProgramTest, TimeoutKillsTheChild) {
  absl::StatusOr<std::string> out = RunProgram(
      {"/bin/sh", "-c", "echo started; exec /bin/sleep 60"}, RunAs{}, absl::Milliseconds(300));
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status())) << out.status();
  EXPECT_THAT(out.status().message(), HasSubstr("started"));
}

TEST(SpawnTest, ChildHasItsOwnSessionNoExtraFdsAndRootAsCwd) {
  // A descriptor without close-on-exec, as a library might leave one: not inherited.
  int leaked = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  // ls itself (no shell in between) lists its descriptors: 0-2 and the one it reads
  // the directory with.
  absl::StatusOr<std::string> fds =
      RunProgram({"/bin/ls", "/proc/self/fd"}, RunAs{}, absl::Seconds(10));
  close(leaked);
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_EQ(*fds, "0\n1\n2\n3\n");
  absl::StatusOr<std::string> sid =
      RunProgram({"/bin/sh", "-c", "ps -o sid= -p $$"}, RunAs{}, absl::Seconds(10));
  ASSERT_TRUE(sid.ok()) << sid.status();
  int child_sid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*sid), &child_sid)) << *sid;
  EXPECT_NE(child_sid, getsid(0));
  EXPECT_EQ(*RunProgram({"/bin/pwd"}, RunAs{}, absl::Seconds(10)), "/\n");
}

TEST(ResolveRunAsTest, RootNeedsAnUnprivilegedUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveRunAs("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveRunAs("root").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveRunAs("no-such-user-here").status()));
  absl::StatusOr<RunAs> as = ResolveRunAs("postgres");
  ASSERT_TRUE(as.ok()) << as.status();
  EXPECT_TRUE(as->drop);
  struct passwd* pw = getpwnam("postgres");
  ASSERT_NE(pw, nullptr);
  absl::StatusOr<std::string> ids = RunProgram({"/usr/bin/id", "-u"}, *as, absl::Seconds(10));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, absl::StrCat(pw->pw_uid, "\n"));
  absl::StatusOr<std::string> groups = RunProgram({"/usr/bin/id", "-G"}, *as, absl::Seconds(10));
  ASSERT_TRUE(groups.ok());
  EXPECT_THAT(*groups, ::testing::Not(::testing::StartsWith("0 ")));
}

TEST(PidfdTest, WaitAndSignalThroughTheHandle) {
  absl::StatusOr<pid_t> pid = Spawn(SpawnOptions{{"/bin/sleep", "60"}, RunAs{}, -1});
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::StatusOr<int> fd = PidfdOpen(*pid);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_FALSE(PidfdWaitExit(*fd, absl::ZeroDuration()));
  ASSERT_TRUE(PidfdSignal(*fd, SIGTERM).ok());
  EXPECT_TRUE(PidfdWaitExit(*fd, absl::Seconds(30)));
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(PidfdSignal(*fd, SIGTERM).ok());  // gone: nothing to do, no error
  close(*fd);
  EXPECT_TRUE(absl::IsNotFound(PidfdOpen(*pid).status()));
}

}  // namespace
}  // namespace walrep
