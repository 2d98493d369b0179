#include "agent/apply_tracker.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(ApplyTrackerTest, FollowsTheSourceOnWake) {
  std::atomic<uint64_t> flush{0};
  std::atomic<int> advances{0};
  // A tick far longer than the test: only Wake() can move it in time.
  ApplyTracker t([&] { return Lsn(flush.load()); }, [&] { ++advances; }, absl::Hours(1));
  t.Start();
  flush = 0x5000;
  t.Wake();
  EXPECT_TRUE(t.WaitForApply(Lsn(0x5000), absl::Seconds(5)));
  EXPECT_EQ(t.apply_lsn(), Lsn(0x5000));
  // on_advance runs just after apply_lsn is published; give it a moment.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (advances.load() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_GE(advances.load(), 1);
  t.Stop();
}

TEST(ApplyTrackerTest, TickAdvancesWithoutWake) {
  std::atomic<uint64_t> flush{0x100};
  ApplyTracker t([&] { return Lsn(flush.load()); }, nullptr, absl::Milliseconds(10));
  t.Start();
  EXPECT_TRUE(t.WaitForApply(Lsn(0x100), absl::Seconds(5)));
  flush = 0x200;
  EXPECT_TRUE(t.WaitForApply(Lsn(0x200), absl::Seconds(5)));
}

TEST(ApplyTrackerTest, NeverMovesBackwardsAndTimesOut) {
  std::atomic<uint64_t> flush{0x300};
  ApplyTracker t([&] { return Lsn(flush.load()); }, nullptr, absl::Milliseconds(5));
  t.Start();
  ASSERT_TRUE(t.WaitForApply(Lsn(0x300), absl::Seconds(5)));
  flush = 0x100;
  t.Wake();
  EXPECT_FALSE(t.WaitForApply(Lsn(0x400), absl::Milliseconds(50)));
  EXPECT_EQ(t.apply_lsn(), Lsn(0x300));
}

}  // namespace
}  // namespace walrep
