#include "replay/flush_times.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(FlushTimesTest, LagIsTheAgeOfTheOldestFlushedPositionNotYetApplied) {
  FlushTimes f;
  EXPECT_EQ(f.Lag(0, 0, kT0), absl::ZeroDuration());
  f.Flushed(100, kT0);
  f.Flushed(200, kT0 + absl::Seconds(1));
  f.Flushed(300, kT0 + absl::Seconds(2));
  EXPECT_EQ(f.Lag(300, 50, kT0 + absl::Seconds(5)), absl::Seconds(5));
  f.Applied(150);  // past the first position: the second is now the oldest waiting
  EXPECT_EQ(f.Lag(300, 150, kT0 + absl::Seconds(5)), absl::Seconds(4));
  f.Applied(300);
  EXPECT_EQ(f.Lag(300, 300, kT0 + absl::Seconds(5)), absl::ZeroDuration());
}

TEST(FlushTimesTest, AnIdleCaughtUpReplicaHasNoLagHoweverOldItsLastFlush) {
  FlushTimes f;
  f.Flushed(100, kT0);
  f.Applied(100);
  EXPECT_EQ(f.Lag(100, 100, kT0 + absl::Hours(1)), absl::ZeroDuration());
}

TEST(FlushTimesTest, AFullTableMovesItsNewestPositionOnAndNeverShowsLessLag) {
  FlushTimes f(2);
  f.Flushed(100, kT0);
  f.Flushed(200, kT0 + absl::Seconds(1));
  f.Flushed(300, kT0 + absl::Seconds(2));  // full: (200, t0+1) becomes (300, t0+1)
  EXPECT_EQ(f.Lag(300, 0, kT0 + absl::Seconds(3)), absl::Seconds(3));
  f.Applied(100);
  // The truth for WAL 200..300 is 1 s; shown from the merged sample: 2 s, not less.
  EXPECT_EQ(f.Lag(300, 250, kT0 + absl::Seconds(3)), absl::Seconds(2));
  f.Flushed(300, kT0 + absl::Seconds(9));  // the same position again: not a new sample
  f.Applied(300);
  EXPECT_EQ(f.Lag(300, 300, kT0 + absl::Seconds(10)), absl::ZeroDuration());
}

}  // namespace
}  // namespace walrep
