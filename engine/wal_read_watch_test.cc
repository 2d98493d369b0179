#include "engine/wal_read_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using Event = WalReadWatch::Event;

constexpr char kSegment[] = "000000010000000000000003";

// How long a wait that must not end early is given: it ends at the deadline or the test
// fails, so the length only bounds the test's time.
constexpr absl::Duration kQuiet = absl::Milliseconds(50);

void OpenAndClose(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(close(fd), 0);
}

TEST(WalReadWatchTest, ReportsTheCloseOfASegmentReadByAnotherThread) {
  testing::TempDir dir;
  testing::WriteAll(dir.Join(kSegment), "wal");
  auto watch = WalReadWatch::Create(dir.path());
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::thread reader([&] { OpenAndClose(dir.Join(kSegment), O_RDONLY); });
  EXPECT_EQ((*watch)->Wait(absl::Now() + absl::Seconds(30)), Event::kSegmentClosed);
  reader.join();
  // Reported once: the next wait has nothing.
  EXPECT_EQ((*watch)->Wait(absl::Now() + kQuiet), Event::kTimeout);
}

TEST(WalReadWatchTest, IgnoresWritersAndOtherFiles) {
  testing::TempDir dir;
  testing::WriteAll(dir.Join(kSegment), "wal");
  testing::WriteAll(dir.Join("00000002.history"), "1\t0/3000000\tno reason\n");
  auto watch = WalReadWatch::Create(dir.path());
  ASSERT_TRUE(watch.ok()) << watch.status();
  OpenAndClose(dir.Join(kSegment), O_WRONLY);            // walrep's own writes
  OpenAndClose(dir.Join("00000002.history"), O_RDONLY);  // not a segment
  EXPECT_EQ((*watch)->Wait(absl::Now() + kQuiet), Event::kTimeout);
  // A close before the wait began is still reported.
  OpenAndClose(dir.Join(kSegment), O_RDONLY);
  EXPECT_EQ((*watch)->Wait(absl::Now() + absl::Seconds(30)), Event::kSegmentClosed);
}

TEST(WalReadWatchTest, InterruptEndsTheWaitFromAnotherThread) {
  testing::TempDir dir;
  auto watch = WalReadWatch::Create(dir.path());
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::thread waker([&] { (*watch)->Interrupt(); });
  EXPECT_EQ((*watch)->Wait(absl::Now() + absl::Seconds(30)), Event::kInterrupted);
  waker.join();
  EXPECT_EQ((*watch)->Wait(absl::Now() + kQuiet), Event::kTimeout);
  // A close and an interrupt both pending: the close comes first, then the interrupt.
  testing::WriteAll(dir.Join(kSegment), "wal");
  (*watch)->Interrupt();
  OpenAndClose(dir.Join(kSegment), O_RDONLY);
  EXPECT_EQ((*watch)->Wait(absl::Now() + absl::Seconds(30)), Event::kSegmentClosed);
  EXPECT_EQ((*watch)->Wait(absl::Now() + absl::Seconds(30)), Event::kInterrupted);
}

TEST(WalReadWatchTest, ADirectoryThatIsNotThereIsAnError) {
  testing::TempDir dir;
  auto watch = WalReadWatch::Create(dir.Join("pg_wal"));
  EXPECT_FALSE(watch.ok());
  EXPECT_NE(watch.status().message().find("pg_wal"), std::string::npos) << watch.status();
}

}  // namespace
}  // namespace walrep
