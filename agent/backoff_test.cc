#include "agent/backoff.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(BackoffTest, DoublesToTheCapAndResets) {
  Backoff b([] { return 0.5; });  // no jitter at the midpoint
  EXPECT_EQ(b.Next(), absl::Milliseconds(250));
  EXPECT_EQ(b.Next(), absl::Milliseconds(500));
  EXPECT_EQ(b.Next(), absl::Seconds(1));
  for (int i = 0; i < 20; ++i) b.Next();
  EXPECT_EQ(b.Next(), absl::Seconds(30));
  b.Reset();
  EXPECT_EQ(b.Next(), absl::Milliseconds(250));
}

TEST(BackoffTest, JitterStaysWithinTwentyPercentAndUnderTheCap) {
  Backoff low([] { return 0.0; });
  EXPECT_EQ(low.Next(), absl::Milliseconds(200));
  Backoff high([] { return 0.999999; });
  absl::Duration d = high.Next();
  EXPECT_GT(d, absl::Milliseconds(299));
  EXPECT_LT(d, absl::Milliseconds(300));
  for (int i = 0; i < 30; ++i) EXPECT_LE(high.Next(), absl::Seconds(30));
}

}  // namespace
}  // namespace walrep
